package isoboot

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzBootloaders reads arbitrary bytes as a bootloader tar and looks the
// Debian paths up: errors are fine, panics and reads past a file are not.
func FuzzBootloaders(f *testing.F) {
	var seed bytes.Buffer
	tw := tar.NewWriter(&seed)
	for _, h := range []tar.Header{
		{Name: "usr/lib/ISOLINUX/isolinux.bin", Typeflag: tar.TypeReg, Size: 4, Mode: 0o644},
		{Name: "usr/lib/ISOLINUX/isohdpfx.bin", Typeflag: tar.TypeSymlink, Linkname: "isolinux.bin"},
		{Name: "usr/lib/systemd/boot/efi/systemd-bootx64.efi", Typeflag: tar.TypeLink, Linkname: "usr/lib/ISOLINUX/isolinux.bin"},
		{Name: "usr/lib/syslinux/modules/bios/ldlinux.c32", Typeflag: tar.TypeSymlink, Linkname: "ldlinux.c32"},
	} {
		_ = tw.WriteHeader(&h)
		if h.Size > 0 {
			_, _ = tw.Write([]byte("boot"))
		}
	}
	_ = tw.Close()
	f.Add(seed.Bytes())
	f.Add([]byte("not a tar"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "bl.tar")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		bl, err := openBootloaders(context.Background(), []string{p})
		if err != nil {
			return
		}
		defer bl.Close()
		for _, name := range []string{IsolinuxBin, IsohdpfxBin, LdlinuxC32, SystemdBootX64} {
			src, err := bl.file(name)
			if err != nil {
				continue
			}
			rc, err := src.Open(context.Background())
			if err != nil {
				continue
			}
			n, _ := io.Copy(io.Discard, rc)
			rc.Close()
			if n > src.Size() || n > int64(len(b)) {
				t.Fatalf("%s: read %d bytes of a %d-byte file in a %d-byte tar", name, n, src.Size(), len(b))
			}
		}
	})
}
