package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// entry is one member of an archive.
type entry struct {
	hdr  *tar.Header
	body []byte
}

// readTar reads a whole (small) tar file with archive/tar, checking the
// reproducibility rules every artifact obeys.
func readTar(t testing.TB, p string) (map[string]*entry, []string) {
	t.Helper()
	return readTarAt(t, p, 0)
}

// readTarAt is readTar for artifacts built with SOURCE_DATE_EPOCH epoch.
func readTarAt(t testing.TB, p string, epoch int64) (map[string]*entry, []string) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	m := map[string]*entry{}
	var order []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %s: %v", p, h.Name, err)
		}
		if _, dup := m[h.Name]; dup {
			t.Errorf("%s: duplicate entry %s", p, h.Name)
		}
		if h.ModTime.Unix() != epoch || h.Uname != "" || h.Gname != "" || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: %s: mtime %v uname %q gname %q atime %v ctime %v, want mtime %d and no names or other times",
				p, h.Name, h.ModTime.Unix(), h.Uname, h.Gname, h.AccessTime, h.ChangeTime, epoch)
		}
		m[h.Name] = &entry{hdr: h, body: b}
		order = append(order, h.Name)
	}
	if !sort.StringsAreSorted(order) {
		t.Errorf("%s: entries are not sorted", p)
	}
	return m, order
}

// listing renders a tar's entries one a line: type, mode, uid:gid, size,
// name and link target.
func listing(m map[string]*entry, order []string) string {
	var b strings.Builder
	for _, n := range order {
		h := m[n].hdr
		typ := map[byte]string{tar.TypeReg: "-", tar.TypeDir: "d", tar.TypeSymlink: "l", tar.TypeLink: "h", tar.TypeChar: "c", tar.TypeBlock: "b", tar.TypeFifo: "p"}[h.Typeflag]
		if typ == "" {
			typ = fmt.Sprintf("?%q", h.Typeflag)
		}
		fmt.Fprintf(&b, "%s %04o %d:%d %6d %s", typ, h.Mode, h.Uid, h.Gid, h.Size, n)
		if h.Linkname != "" {
			fmt.Fprintf(&b, " -> %s", h.Linkname)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// tool runs a program with stdin and returns its stdout.
func tool(t testing.TB, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (apt-get install %s)", name, name)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}

func lines(b []byte) []string {
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// jsonDiff compares two JSON documents field by field and returns the
// paths that differ.
func jsonDiff(want, got []byte) ([]string, error) {
	w, err := decodeJSON(want)
	if err != nil {
		return nil, fmt.Errorf("want: %w", err)
	}
	g, err := decodeJSON(got)
	if err != nil {
		return nil, fmt.Errorf("got: %w", err)
	}
	var diffs []string
	walkDiff("", w, g, &diffs)
	return diffs, nil
}

func walkDiff(path string, w, g any, diffs *[]string) {
	switch wv := w.(type) {
	case map[string]any:
		gv, ok := g.(map[string]any)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %s, want an object", path, short(g)))
			return
		}
		keys := map[string]bool{}
		for k := range wv {
			keys[k] = true
		}
		for k := range gv {
			keys[k] = true
		}
		var ks []string
		for k := range keys {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			sub := path + "." + k
			wx, wok := wv[k]
			gx, gok := gv[k]
			switch {
			case !gok:
				*diffs = append(*diffs, fmt.Sprintf("%s: missing, want %s", sub, short(wx)))
			case !wok:
				*diffs = append(*diffs, fmt.Sprintf("%s: unexpected %s", sub, short(gx)))
			default:
				walkDiff(sub, wx, gx, diffs)
			}
		}
	case []any:
		gv, ok := g.([]any)
		if !ok || len(gv) != len(wv) {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %s, want %s", path, short(g), short(w)))
			return
		}
		for i := range wv {
			walkDiff(fmt.Sprintf("%s[%d]", path, i), wv[i], gv[i], diffs)
		}
	default:
		if !reflect.DeepEqual(w, g) {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %s, want %s", path, short(g), short(w)))
		}
	}
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// decodeJSON decodes a JSON document keeping numbers exact.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("trailing data after the JSON document")
	}
	return v, nil
}

// goldenJSON compares a JSON document field by field with testdata/name.
func goldenJSON(t testing.TB, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		v, err := decodeJSON(got)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		golden(t, name, append(b, '\n'))
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("golden file: %v (run go test ./testing/e2e -update)", err)
	}
	diffs, err := jsonDiff(want, got)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(diffs) > 0 {
		t.Errorf("%s differs from the golden file in %d field(s):\n  %s", p, len(diffs), strings.Join(diffs, "\n  "))
	}
}

// jget returns the value at a dotted path of a decoded JSON document
// ("process.user.uid", "mounts.0.destination").
func jget(doc any, path string) (any, error) {
	cur := doc
	for _, k := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			x, ok := v[k]
			if !ok {
				return nil, fmt.Errorf("%s: no %q", path, k)
			}
			cur = x
		case []any:
			var i int
			if _, err := fmt.Sscanf(k, "%d", &i); err != nil || i < 0 || i >= len(v) {
				return nil, fmt.Errorf("%s: bad index %q", path, k)
			}
			cur = v[i]
		default:
			return nil, errors.New(path + ": not a container at " + k)
		}
	}
	return cur, nil
}

// jstr renders the value at path as compact JSON ("" when missing).
func jstr(doc any, path string) string {
	v, err := jget(doc, path)
	if err != nil {
		return "<missing>"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
