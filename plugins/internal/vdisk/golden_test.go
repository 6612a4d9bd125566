package vdisk_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/plugins/internal/vdisk/gce"
	"github.com/kitbuild/kit/plugins/internal/vdisk/qcow2"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vdisktest"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vhd"
	"github.com/kitbuild/kit/plugins/internal/vdisk/vmdk"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.sha256")

// TestGolden pins the sha256 of every writer's output for one small disk, so a change of
// bytes (a code change, or a klauspost/compress upgrade changing the vmdk and gce streams)
// is a deliberate one: refresh with `go test -run TestGolden -update`.
func TestGolden(t *testing.T) {
	const size = 3<<20 + 4096
	src := vdisktest.Open(t, vdisktest.Image(t, size))
	ctx := context.Background()
	writers := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"qcow2", func(w io.Writer) error { return qcow2.Write(ctx, w, src, size) }},
		{"vhd-fixed", func(w io.Writer) error { return vhd.WriteFixed(ctx, w, src, size, vhd.WithSourceDateEpoch(1700000000)) }},
		{"vhd-dynamic", func(w io.Writer) error {
			return vhd.WriteDynamic(ctx, w, src, size, vhd.WithSourceDateEpoch(1700000000))
		}},
		{"vhd-azure", func(w io.Writer) error { return vhd.WriteAzure(ctx, w, src, size, vhd.WithSourceDateEpoch(1700000000)) }},
		{"vmdk", func(w io.Writer) error { return vmdk.Write(ctx, w, src, size) }},
		{"gce", func(w io.Writer) error { return gce.Write(ctx, w, src, size, gce.WithSourceDateEpoch(1700000000)) }},
	}
	var got strings.Builder
	for _, wr := range writers {
		h := sha256.New()
		if err := wr.write(h); err != nil {
			t.Fatalf("%s: %v", wr.name, err)
		}
		fmt.Fprintf(&got, "%s %s\n", hex.EncodeToString(h.Sum(nil)), wr.name)
	}
	path := filepath.Join("testdata", "golden.sha256")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got.String() != string(want) {
		t.Fatalf("output digests changed:\n got:\n%s want:\n%s", got.String(), want)
	}
}
