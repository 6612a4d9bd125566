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

// FuzzWriteGzip feeds arbitrary bytes as the tar to WriteGzip: it must
// fail cleanly, or write a gzip member that decompresses to what Write
// writes for the same tar.
func FuzzWriteGzip(f *testing.F) {
	f.Add(ft.Tar(f, ft.File("big", string(bytes.Repeat([]byte("ab"), ChunkMin)), 0o644), ft.Hardlink("link", "big"), ft.File("small", "s", 0o644)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, src []byte) {
		var plain bytes.Buffer
		_, perr := Write(context.Background(), &plain, bytes.NewReader(src), int64(len(src)))
		var gz bytes.Buffer
		_, err := WriteGzip(context.Background(), &gz, bytes.NewReader(src), int64(len(src)), nil)
		if (err == nil) != (perr == nil) {
			t.Fatalf("Write: %v, WriteGzip: %v", perr, err)
		}
		if err != nil {
			return
		}
		if got := gunzip(t, gz.Bytes()); !bytes.Equal(got, plain.Bytes()) {
			t.Fatalf("WriteGzip holds %d bytes, Write wrote %d", len(got), plain.Len())
		}
	})
}

// FuzzPackIndex feeds arbitrary bytes as a pack index: parsing and
// validation must not panic, and a valid index only places chunks within
// the data.
func FuzzPackIndex(f *testing.F) {
	f.Add([]byte(`{"format":"`+packFormat+`","chunks":[{"size":16384,"crc32":1,"crc32c":2,"offset":0,"length":10}]}`), int64(10))
	f.Add([]byte(`{}`), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		idx, err := ParsePackIndex(b)
		if err != nil || idx.Validate(size) != nil {
			return
		}
		for _, c := range idx.Chunks {
			if c.Offset < 0 || c.Length <= 0 || c.Offset > size || c.Length > size-c.Offset {
				t.Fatalf("chunk %+v outside %d bytes", c, size)
			}
		}
	})
}
