package cache

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// newFileWriter returns the writer of f: a directWriter with direct set.
func newFileWriter(f *os.File, direct bool) fileWriter {
	if !direct {
		return plainWriter{f}
	}
	return &directWriter{f: f}
}

// directWriter writes through the page cache up to directAfter bytes, then
// with O_DIRECT while the writes are aligned as the file system requires,
// the disk keeps up and the kernel takes them. It falls back to the page
// cache for good at the first write that is not aligned (a blob's last
// chunk), at a backlog, or when a direct write fails with EINVAL (which
// writes nothing).
type directWriter struct {
	f     *os.File
	off   int64
	state directState
	// memAlign and offAlign are the alignments direct I/O on f requires
	// of buffers, and of offsets and lengths.
	memAlign, offAlign int64
}

type directState int

const (
	directPending directState = iota // not yet at directAfter
	directOn
	directOff
)

func (d *directWriter) write(b []byte, backlog bool) (int, error) {
	if d.state == directPending && d.off >= directAfter {
		d.start()
	}
	if d.state == directOn && (backlog || !d.aligned(b)) {
		d.stop()
	}
	n, err := d.f.Write(b)
	if d.state == directOn && errors.Is(err, unix.EINVAL) && n <= 0 {
		d.stop()
		n, err = d.f.Write(b)
	}
	if n > 0 {
		d.off += int64(n)
	}
	return n, err
}

// start turns O_DIRECT on, if f's file system supports it and the offset
// is aligned; otherwise direct writes are off for good.
func (d *directWriter) start() {
	d.state = directOff
	var st unix.Statx_t
	if err := unix.Statx(int(d.f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &st); err != nil {
		return
	}
	d.memAlign, d.offAlign = 4096, 4096 // a kernel that does not say
	if st.Mask&unix.STATX_DIOALIGN != 0 {
		if st.Dio_mem_align == 0 || st.Dio_offset_align == 0 {
			return // no direct I/O on this file
		}
		d.memAlign, d.offAlign = int64(st.Dio_mem_align), int64(st.Dio_offset_align)
	}
	if d.off%d.offAlign != 0 {
		return
	}
	fl, err := unix.FcntlInt(d.f.Fd(), unix.F_GETFL, 0)
	if err != nil {
		return
	}
	if _, err := unix.FcntlInt(d.f.Fd(), unix.F_SETFL, fl|unix.O_DIRECT); err == nil {
		d.state = directOn
	}
}

// stop turns O_DIRECT off for good.
func (d *directWriter) stop() {
	d.state = directOff
	if fl, err := unix.FcntlInt(d.f.Fd(), unix.F_GETFL, 0); err == nil {
		_, _ = unix.FcntlInt(d.f.Fd(), unix.F_SETFL, fl&^unix.O_DIRECT)
	}
}

func (d *directWriter) aligned(b []byte) bool {
	addr := int64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	return addr%d.memAlign == 0 && int64(len(b))%d.offAlign == 0 && d.off%d.offAlign == 0
}
