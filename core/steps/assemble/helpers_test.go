package assemble

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/steptest"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// epoch is the SOURCE_DATE_EPOCH of the tests (2020-09-13); steptest's
// entries are newer, so their times are clamped to it.
const epoch = 1600000000

// Entry builders for the tests.
func file(name, data string) steptest.Entry { return steptest.File(name, data, 0o644) }
func dir(name string) steptest.Entry        { return steptest.Dir(name, 0o755) }
func link(name, target string) steptest.Entry {
	return steptest.Hardlink(name, target)
}
func symlink(name, target string) steptest.Entry { return steptest.Symlink(name, target) }

// owned returns e with an owner and mode.
func owned(e steptest.Entry, mode int64, uid, gid int) steptest.Entry {
	e.Header.Mode, e.Header.Uid, e.Header.Gid = mode, uid, gid
	return e
}

// result stores tars and blobs as the outputs of one input.
func result(t testing.TB, x *steptest.Exec, outs ...graph.Output) graph.Result {
	t.Helper()
	return graph.Result{Key: graph.FromBytes([]byte(fmt.Sprint(outs))), Outputs: outs}
}

func tarOut(t testing.TB, x *steptest.Exec, name string, entries ...steptest.Entry) graph.Output {
	t.Helper()
	return x.Put(name, tarutil.MediaType, steptest.Tar(t, entries...))
}

// testExec is steptest.Exec or a wrapper of it.
type testExec interface {
	graph.Exec
	Read(graph.Output) []byte
}

// exec runs op and returns its outputs by name. The rootfs is verified to
// be a normalized tar.
func exec(t testing.TB, x testExec, op Op, inputs ...graph.Result) (map[string]graph.Output, error) {
	t.Helper()
	if _, err := op.Params(); err != nil {
		return nil, err
	}
	outs, err := op.Exec(context.Background(), x, inputs)
	if err != nil {
		return nil, err
	}
	m := map[string]graph.Output{}
	for _, o := range outs {
		m[o.Name] = o
	}
	// The recipe, written out by the rootfs step, is the tar the tests
	// look at; written out, it must be the same tar twice.
	if _, ok := m[RecipeName]; ok {
		mat, err := MaterializeOp{}.Exec(context.Background(), x, []graph.Result{{Outputs: outs}})
		if err != nil {
			t.Fatalf("rootfs step: %v", err)
		}
		m[RootfsName] = mat[0]
		for _, o := range mat[1:] {
			if m[o.Name] != o {
				t.Errorf("rootfs step: output %s is not passed on unchanged", o.Name)
			}
		}
	}
	if r, ok := m[RootfsName]; ok {
		if _, err := tarutil.Verify(bytes.NewReader(x.Read(r)), op.SourceDateEpoch); err != nil {
			t.Errorf("rootfs.tar is not normalized: %v", err)
		}
	}
	return m, nil
}

// listing describes a tar, one entry a line: name, type, mode, owner, then
// a link target or the contents (quoted when short, else digested).
func listing(t testing.TB, data []byte) string {
	t.Helper()
	var b strings.Builder
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return b.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %04o %d:%d", h.Name, typeLetter(h.Typeflag), h.Mode, h.Uid, h.Gid)
		switch h.Typeflag {
		case tar.TypeSymlink, tar.TypeLink:
			fmt.Fprintf(&b, " -> %s", h.Linkname)
		case tar.TypeReg:
			body, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if len(body) <= 40 {
				fmt.Fprintf(&b, " %q", body)
			} else {
				fmt.Fprintf(&b, " %d bytes %s", len(body), graph.FromBytes(body).Short())
			}
		case tar.TypeChar, tar.TypeBlock:
			fmt.Fprintf(&b, " %d,%d", h.Devmajor, h.Devminor)
		}
		for k, v := range h.PAXRecords {
			if strings.HasPrefix(k, tarutil.XattrPrefix) {
				fmt.Fprintf(&b, " %s=%s", k, v)
			}
		}
		if h.ModTime.Unix() != epoch {
			fmt.Fprintf(&b, " @%d", h.ModTime.Unix())
		}
		b.WriteByte('\n')
	}
}

func typeLetter(t byte) string {
	switch t {
	case tar.TypeReg:
		return "f"
	case tar.TypeDir:
		return "d"
	case tar.TypeSymlink:
		return "l"
	case tar.TypeLink:
		return "h"
	case tar.TypeChar:
		return "c"
	case tar.TypeBlock:
		return "b"
	case tar.TypeFifo:
		return "p"
	}
	return string(t)
}

// lines joins lines with trailing newlines.
func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

// fileOpener opens the file at path, for openTar.
func fileOpener(path string) func() (*os.File, error) {
	return func() (*os.File, error) { return os.Open(path) }
}
