package initramfs

import (
	"bytes"
	"context"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"

	ft "github.com/kitbuild/kit/core/format/formattest"
)

// FuzzWrite feeds arbitrary bytes as the tar: Write must fail cleanly or
// produce an archive that reads back with as many records as it reports.
func FuzzWrite(f *testing.F) {
	f.Add(rootfs(f))
	f.Add(ft.Tar(f, ft.File("a", "data", 0o644), ft.Hardlink("b", "a")))
	f.Add(ft.Tar(f, ft.Symlink("a", "x"), ft.Hardlink("b", "a"), ft.Hardlink("c", "b")))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, src []byte) {
		var buf bytes.Buffer
		st, err := Write(context.Background(), &buf, bytes.NewReader(src), int64(len(src)), WithSkip(SkipBoot), WithSourceDateEpoch(0))
		if err != nil {
			return
		}
		if st.Size != int64(buf.Len()) {
			t.Fatalf("stats say %d bytes, wrote %d", st.Size, buf.Len())
		}
		rs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(buf.Bytes())))
		if err != nil {
			t.Fatalf("output does not read back: %v", err)
		}
		if len(rs) != st.Entries {
			t.Fatalf("%d records read back, stats say %d", len(rs), st.Entries)
		}
	})
}
