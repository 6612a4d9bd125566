package vmdk

import (
	"bytes"
	"context"
	"testing"
)

// FuzzReadStream feeds mutations of small streams to the test-side stream reader. The
// seeds are written with a one-sector descriptor area and grains from sector 2, so they
// are a few KiB rather than the 64 KiB of a real stream's head (the fuzzer's input
// minimisation crawls on large inputs).
func FuzzReadStream(f *testing.F) {
	for _, size := range []int64{512, 3 * GrainSize, (gtEntries + 1) * GrainSize} {
		var b bytes.Buffer
		data := make([]byte, size)
		copy(data, bytes.Repeat([]byte("kit"), 3*GrainSize/3))
		copy(data[size-512:], "the last sector")
		c := config{concurrency: 1, adapter: IDE, fileName: "f.vmdk", descSectors: 1, overhead: 2}
		if err := write(context.Background(), &b, bytes.NewReader(data), size, c); err != nil {
			f.Fatal(err)
		}
		if _, err := ReadStream(bytes.NewReader(b.Bytes()), nil); err != nil {
			f.Fatalf("seed of %d bytes: %v", size, err)
		}
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ReadStream(bytes.NewReader(b), func(off int64, data []byte) error {
			if off < 0 || len(data) > GrainSize {
				t.Fatalf("grain at %d of %d bytes", off, len(data))
			}
			return nil
		})
		if err == nil && (info.Capacity <= 0 || info.Capacity > MaxSize) {
			t.Fatalf("accepted capacity %d", info.Capacity)
		}
	})
}
