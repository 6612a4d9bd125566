package cache

import "os"

// directAfter is the size from which an artifact (a mirrored blob) is
// written past the page cache, where the file system allows it.
//
// kit does not read an artifact again once it is written: keeping it in the
// page cache costs a page allocation and a copy for every 4 KiB, which on a
// VM whose free memory is handed back to the host (virtio balloon free page
// reporting) is a host page fault each, and ends up evicting the data the
// build still reads. Written direct, the blob and its mirror cost the disk's
// time on the goroutines that write them instead. The first directAfter
// bytes still go through the page cache: a direct write waits for the disk,
// so the last of a blob's writes delay its Commit by a few milliseconds,
// which only a large blob pays back.
const directAfter = 32 << 20

// fileWriter writes a blob's file, or its mirror, on the goroutine that
// writes it behind (see behind). With direct set it switches to direct I/O
// at directAfter (directWriter, on Linux).
type fileWriter interface {
	// write writes b at the end of the file. backlog reports that the
	// chunks waiting to be written fill the queue: the disk does not keep
	// up, and direct writes stop for good.
	write(b []byte, backlog bool) (int, error)
}

// plainWriter writes through the page cache.
type plainWriter struct{ f *os.File }

func (p plainWriter) write(b []byte, _ bool) (int, error) { return p.f.Write(b) }
