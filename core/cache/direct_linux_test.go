package cache

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// directSupported reports whether a file made in dir takes direct I/O.
func directSupported(dir string) bool {
	f, err := os.CreateTemp(dir, "probe")
	if err != nil {
		return false
	}
	defer os.Remove(f.Name())
	defer f.Close()
	var st unix.Statx_t
	if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &st); err != nil {
		return false
	}
	return st.Mask&unix.STATX_DIOALIGN != 0 && st.Dio_mem_align != 0 && st.Dio_offset_align != 0
}

// alignedChunk returns n bytes of anonymous memory (page-aligned).
func alignedChunk(t *testing.T, n int) []byte {
	t.Helper()
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return b
}

func TestDirectWriterStates(t *testing.T) {
	dir := t.TempDir()
	if !directSupported(dir) {
		t.Skipf("%s does not take direct I/O", dir)
	}
	rng := rand.NewChaCha8([32]byte{9})
	chunk := alignedChunk(t, behindBufSize)
	for _, tt := range []struct {
		name string
		// at is the write that is short of a whole chunk (odd) or comes
		// with a backlog, -1 for none; direct writes are off from it on.
		at      int
		odd     bool
		backlog bool
	}{
		{"aligned", -1, false, false},
		{"odd tail", directAfter/behindBufSize + 2, true, false},
		{"odd at the switch", directAfter / behindBufSize, true, false},
		{"backlog", directAfter/behindBufSize + 2, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(dir, tt.name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			d := newFileWriter(f, true).(*directWriter)
			var want bytes.Buffer
			n := directAfter/behindBufSize + 4
			for i := range n {
				rng.Read(chunk)
				b := chunk
				if i == tt.at && tt.odd {
					b = chunk[:len(chunk)-100]
				}
				backlog := tt.backlog && i == tt.at
				if _, err := d.write(b, backlog); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				want.Write(b)
				wantState := directPending
				switch {
				case tt.at >= 0 && i >= tt.at:
					wantState = directOff
				case int64(i)*behindBufSize >= directAfter:
					wantState = directOn
				}
				if d.state != wantState {
					t.Fatalf("after write %d (offset %d): state %d, want %d", i, d.off, d.state, wantState)
				}
				fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
				if err != nil {
					t.Fatal(err)
				}
				if on := fl&unix.O_DIRECT != 0; on != (wantState == directOn) {
					t.Fatalf("after write %d: O_DIRECT %v in state %d", i, on, d.state)
				}
			}
			got, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("the file holds %d bytes that differ from the %d written", len(got), want.Len())
			}
		})
	}
}

func TestPlainWriterNeverDirect(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "plain"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := newFileWriter(f, false).(plainWriter); !ok {
		t.Fatal("a blob that is not an artifact gets a direct writer")
	}
}
