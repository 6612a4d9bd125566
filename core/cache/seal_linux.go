package cache

import (
	"errors"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// errNoSeal is returned by setSeal where blobs cannot be sealed.
var errNoSeal = errors.New("sealing is not supported here")

// setSeal sets the modification time of f to sealTime, through its
// descriptor (utimensat with no path: the file f is, whatever its name
// now), leaving the access time alone.
func setSeal(f *os.File) error {
	ts := [2]unix.Timespec{
		{Nsec: unix.UTIME_OMIT},
		unix.NsecToTimespec(sealTime.UnixNano()),
	}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, f.Fd(), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func statCtime(st *syscall.Stat_t) time.Time {
	return time.Unix(st.Ctim.Unix())
}
