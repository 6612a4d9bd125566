package seekbuf

import (
	"bytes"
	"io"
	"testing"
)

// countingReaderAt counts the bytes asked of it.
type countingReaderAt struct {
	r     *bytes.Reader
	asked int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.asked += int64(len(p))
	return c.r.ReadAt(p, off)
}

func TestReadSeek(t *testing.T) {
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	ra := &countingReaderAt{r: bytes.NewReader(data)}
	r := New(ra, int64(len(data)), 64<<10)
	buf := make([]byte, 512)
	// Small reads in a row: one fill of the buffer.
	for i := 0; i < 8; i++ {
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, data[i*512:(i+1)*512]) {
			t.Fatalf("read %d differs", i)
		}
	}
	if ra.asked != 64<<10 {
		t.Fatalf("8 reads of 512 bytes asked for %d bytes, want one fill", ra.asked)
	}
	// A long seek, then one byte (archive/tar skipping data): a small fill.
	if _, err := r.Seek(700000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	before := ra.asked
	if _, err := io.ReadFull(r, buf[:1]); err != nil || buf[0] != data[700000] {
		t.Fatalf("byte after seek: %v %d", err, buf[0])
	}
	if got := ra.asked - before; got > 4<<10 {
		t.Fatalf("a byte after a long seek asked for %d bytes", got)
	}
	if r.Pos() != 700001 {
		t.Fatalf("position %d", r.Pos())
	}
	// Reading to the end from there, and past it.
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(rest, data[700001:]) {
		t.Fatalf("rest: %d bytes, %v", len(rest), err)
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("a negative position was accepted")
	}
}
