package vdisktest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const mib = 1 << 20

// Extent is a range of a test disk holding data.
type Extent struct{ Off, Len int64 }

// Extents returns where Image puts data in a disk of size bytes: a first MiB (a boot
// sector's place), a run at an odd 4 KiB offset, a run across the 32 MiB boundary (a VMDK
// grain table and a qcow2/VHD block edge), a lone byte, the last 20 KiB (the partial last
// cluster or grain when size is not a multiple of it) and, past 80 MiB, 1 MiB every 8 MiB.
// The rest, including 41..(size-20KiB) in a 70 MiB disk, is zero.
func Extents(size int64) []Extent {
	cand := []Extent{
		{0, mib},
		{3*mib + 4096, 300 << 10},
		{31*mib + mib/2, 2 * mib},
		{40*mib + 777, 1},
	}
	for off := int64(80 * mib); off+mib <= size-20<<10; off += 8 * mib {
		cand = append(cand, Extent{off, mib})
	}
	cand = append(cand, Extent{size - 20<<10, 20 << 10})
	var out []Extent
	for _, e := range cand {
		if e.Off >= 0 && e.Off+e.Len <= size {
			out = append(out, e)
		}
	}
	return out
}

// Image writes a deterministic test disk of size bytes into tb's temp directory and returns
// its path. The data (see Extents) is seeded pseudo-random bytes from a 16-symbol alphabet,
// so it compresses about two to one; the file is sparse where the disk is zero.
func Image(tb testing.TB, size int64) string {
	tb.Helper()
	return SparseImage(tb, size, Extents(size))
}

// SparseImage is Image with data at the given extents only.
func SparseImage(tb testing.TB, size int64, extents []Extent) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "disk.raw")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		tb.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, e := range extents {
		b := make([]byte, e.Len)
		for i := range b {
			b[i] = byte(r.IntN(16)) + 'a'
		}
		if _, err := f.WriteAt(b, e.Off); err != nil {
			tb.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// Open opens path for the duration of the test.
func Open(tb testing.TB, path string) *os.File {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

// Tool returns the path of a host tool; when it is missing the test is skipped, or fails
// when CI=true.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s not found (CI=true): %v", name, err)
		}
		tb.Skipf("%s not found: %v", name, err)
	}
	return p
}

// Run runs a command and returns its stdout, failing the test with its stderr on error.
func Run(tb testing.TB, name string, args ...string) []byte {
	tb.Helper()
	cmd := exec.Command(Tool(tb, name), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

// RunStatus runs a command and returns its combined output and exit status; it fails the
// test only when the command cannot run at all.
func RunStatus(tb testing.TB, name string, args ...string) (string, int) {
	tb.Helper()
	out, err := exec.Command(Tool(tb, name), args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	default:
		tb.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
		return "", -1
	}
}

// Info is the part of `qemu-img info --output=json` the tests look at.
type Info struct {
	Format         string `json:"format"`
	VirtualSize    int64  `json:"virtual-size"`
	ClusterSize    int64  `json:"cluster-size"`
	FormatSpecific struct {
		Type string `json:"type"`
		Data struct {
			Compat     string `json:"compat"`
			CreateType string `json:"create-type"`
			CID        int64  `json:"cid"`
			ParentCID  int64  `json:"parent-cid"`
			Extents    []struct {
				Compressed  bool   `json:"compressed"`
				VirtualSize int64  `json:"virtual-size"`
				Format      string `json:"format"`
			} `json:"extents"`
		} `json:"data"`
	} `json:"format-specific"`
}

// QemuInfo runs `qemu-img info --output=json` on path, opened as format (probed when "").
func QemuInfo(tb testing.TB, path, format string) Info {
	tb.Helper()
	args := []string{"info", "--output=json"}
	if format != "" {
		args = append(args, "-f", format)
	}
	out := Run(tb, "qemu-img", append(args, path)...)
	var info Info
	if err := json.Unmarshal(out, &info); err != nil {
		tb.Fatalf("qemu-img info %s: %v\n%s", path, err, out)
	}
	return info
}

// QemuCheck runs `qemu-img check` on path and fails the test unless it reports no errors
// and no leaks (exit status 0).
func QemuCheck(tb testing.TB, path, format string) string {
	tb.Helper()
	return string(Run(tb, "qemu-img", "check", "-f", format, path))
}

// QemuToRaw converts path (of format) back to a raw file with qemu-img and returns its path.
func QemuToRaw(tb testing.TB, path, format string) string {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "back.raw")
	Run(tb, "qemu-img", "convert", "-f", format, "-O", "raw", path, out)
	return out
}

// FileDigest returns the hex sha256 of a file.
func FileDigest(tb testing.TB, path string) string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SameContent fails the test unless the files at a and b have identical bytes, naming the
// first differing offset.
func SameContent(tb testing.TB, a, b string) {
	tb.Helper()
	fa, fb := Open(tb, a), Open(tb, b)
	sa, _ := fa.Stat()
	sb, _ := fb.Stat()
	if sa.Size() != sb.Size() {
		tb.Fatalf("%s is %d bytes, %s is %d", a, sa.Size(), b, sb.Size())
	}
	ba, bb := make([]byte, mib), make([]byte, mib)
	for off := int64(0); off < sa.Size(); off += mib {
		na, _ := fa.ReadAt(ba, off)
		nb, _ := fb.ReadAt(bb, off)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			for i := 0; i < min(na, nb); i++ {
				if ba[i] != bb[i] {
					tb.Fatalf("%s and %s differ at offset %d", a, b, off+int64(i))
				}
			}
			tb.Fatalf("%s and %s differ near offset %d", a, b, off)
		}
	}
}

// CancelAfter is an io.Writer that discards what it is given and calls cancel once more
// than n bytes went through it: a way to cancel a writer midway.
type CancelAfter struct {
	N      int64
	Cancel func()
	seen   int64
}

func (c *CancelAfter) Write(p []byte) (int, error) {
	c.seen += int64(len(p))
	if c.seen > c.N && c.Cancel != nil {
		c.Cancel()
	}
	return len(p), nil
}

// WriteFile creates path and runs write on it, failing the test on error.
func WriteFile(tb testing.TB, path string, write func(w io.Writer) error) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := write(f); err != nil {
		f.Close()
		tb.Fatalf("write %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}
