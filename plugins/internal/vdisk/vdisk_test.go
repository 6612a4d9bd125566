package vdisk_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/kitbuild/kit/plugins/internal/vdisk"
)

func TestScan(t *testing.T) {
	const bs = 4096
	size := int64(10*bs + 512) // a partial last block
	data := make([]byte, size)
	data[0] = 1
	data[3*bs+bs-1] = 2
	data[size-1] = 3
	m, sum, err := vdisk.Scan(context.Background(), bytes.NewReader(data), size, bs, true)
	if err != nil {
		t.Fatal(err)
	}
	if m.Blocks != 11 || m.Count() != 3 || !m.Allocated(0) || !m.Allocated(3) || !m.Allocated(10) || m.Allocated(1) {
		t.Fatalf("map: blocks %d, count %d", m.Blocks, m.Count())
	}
	if got := m.CountRange(1, 11); got != 2 {
		t.Fatalf("CountRange(1, 11) = %d", got)
	}
	// The digest follows the bytes and the size, not the reads.
	data2 := bytes.Clone(data)
	data2[5*bs] = 9
	_, sum2, _ := vdisk.Scan(context.Background(), bytes.NewReader(data2), size, bs, true)
	_, sum3, _ := vdisk.Scan(context.Background(), bytes.NewReader(append(data, make([]byte, 512)...)), size+512, bs, true)
	_, again, _ := vdisk.Scan(context.Background(), bytes.NewReader(data), size, bs, true)
	if sum == sum2 || sum == sum3 || sum != again {
		t.Fatal("digest does not follow content and size")
	}
	if _, _, err := vdisk.Scan(context.Background(), bytes.NewReader(data[:100]), size, bs, false); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short source: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := vdisk.Scan(ctx, bytes.NewReader(data), size, bs, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestCountRange(t *testing.T) {
	m := vdisk.NewMap(1000*512, 512)
	for _, i := range []int64{0, 63, 64, 65, 127, 128, 500, 999} {
		m.Set(i)
	}
	m.Set(64) // twice: counted once
	for _, tc := range []struct{ from, to, want int64 }{
		{0, 1000, 8}, {0, 64, 2}, {64, 128, 3}, {1, 999, 6}, {128, 129, 1}, {501, 999, 0},
	} {
		if got := m.CountRange(tc.from, tc.to); got != tc.want {
			t.Errorf("CountRange(%d, %d) = %d, want %d", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestZeroPad(t *testing.T) {
	r := vdisk.ZeroPad(bytes.NewReader([]byte("abcdef")), 4)
	b := make([]byte, 6)
	if n, err := r.ReadAt(b, 2); n != 6 || err != nil || string(b) != "cd\x00\x00\x00\x00" {
		t.Fatalf("ReadAt = %d, %v, %q", n, err, b)
	}
	if _, err := r.ReadAt(b, -1); err == nil {
		t.Fatal("no error at a negative offset")
	}
}

func TestCheckSize(t *testing.T) {
	for size, ok := range map[int64]bool{512: true, 1 << 30: true, 0: false, -512: false, 513: false} {
		if err := vdisk.CheckSize(size); (err == nil) != ok || (err != nil && !errors.Is(err, vdisk.ErrUnaligned)) {
			t.Errorf("CheckSize(%d) = %v", size, err)
		}
	}
}
