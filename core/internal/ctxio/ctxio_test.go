package ctxio

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestStopsWhenDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := Reader(ctx, strings.NewReader("abcdef"))
	buf := make([]byte, 3)
	if n, err := r.Read(buf); n != 3 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	cancel()
	if _, err := r.Read(buf); !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel: %v", err)
	}
	ra := ReaderAt(ctx, strings.NewReader("abc"))
	if _, err := ra.ReadAt(buf, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadAt after cancel: %v", err)
	}
	ra = ReaderAt(context.Background(), strings.NewReader("abc"))
	if n, err := ra.ReadAt(buf, 1); n != 2 || (err != nil && err != io.EOF) {
		t.Errorf("ReadAt = %d, %v", n, err)
	}
}
