package files

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/steps/steptest"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// FuzzFiles lays out random entries: either they are refused as invalid, or
// files.tar and parents.tar are normalized, disjoint, and together hold the
// parent directory of every entry.
func FuzzFiles(f *testing.F) {
	f.Add([]byte("a/b\x00c\x01a/b/c\x02"))
	f.Add([]byte("etc/x\x00etc\x01etc/y/z\x00"))
	f.Add([]byte("/abs\x00a/../b\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var entries []Entry
		for len(data) > 0 && len(entries) < 16 {
			i := bytes.IndexAny(data, "\x00\x01\x02\x03")
			if i < 0 {
				break
			}
			e := Entry{Path: string(data[:i]), Mode: uint32(len(data)) & 0o777, UID: uint32(i)}
			switch data[i] {
			case 0:
				e.Kind, e.Contents = KindFile, data[:i]
			case 1:
				e.Kind = KindDir
			case 2:
				e.Kind, e.Target = KindSymlink, "t"
			default:
				e.Kind = "bogus"
			}
			entries = append(entries, e)
			data = data[i+1:]
		}
		x := steptest.NewExec(t)
		outs, err := Op{Entries: entries, SourceDateEpoch: 7}.Exec(context.Background(), x, nil)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		types := map[string]byte{}
		for _, o := range outs {
			if _, err := tarutil.Verify(bytes.NewReader(x.Read(o)), 7); err != nil {
				t.Fatalf("%s: %v", o.Name, err)
			}
			tr := tar.NewReader(bytes.NewReader(x.Read(o)))
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if _, dup := types[h.Name]; dup {
					t.Fatalf("%s is in both outputs", h.Name)
				}
				types[h.Name] = h.Typeflag
			}
		}
		for name := range types {
			if i := strings.LastIndexByte(name, '/'); i >= 0 && types[name[:i]] != tar.TypeDir {
				t.Fatalf("%s: parent %s is not a directory of either output", name, name[:i])
			}
		}
	})
}
