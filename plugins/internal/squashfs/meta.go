package squashfs

import (
	"encoding/binary"
	"fmt"
	"io"
)

const (
	metaSize         = 8192
	metaUncompressed = 0x8000
	dataUncompressed = 1 << 24
)

// metaWriter packs bytes into SquashFS metadata blocks: 8 KiB of data,
// compressed unless that does not shrink it, behind a 16-bit header.
type metaWriter struct {
	c      compressor
	out    []byte   // finished blocks
	cur    []byte   // the block being filled
	starts []uint32 // offset in out of each finished block
	tmp    []byte
}

// pos is where the next byte goes: the offset of its block in the table
// and its offset in the block's uncompressed data.
func (m *metaWriter) pos() (block uint32, offset uint16) {
	return uint32(len(m.out)), uint16(len(m.cur))
}

// ref is pos as a SquashFS inode or xattr reference.
func (m *metaWriter) ref() uint64 {
	b, o := m.pos()
	return uint64(b)<<16 | uint64(o)
}

func (m *metaWriter) write(b []byte) error {
	for len(b) > 0 {
		n := min(len(b), metaSize-len(m.cur))
		m.cur = append(m.cur, b[:n]...)
		b = b[n:]
		if len(m.cur) == metaSize {
			if err := m.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *metaWriter) flush() error {
	if len(m.cur) == 0 {
		return nil
	}
	if uint64(len(m.out)) > 1<<32-metaSize-2 {
		return fmt.Errorf("squashfs: metadata table larger than 4 GiB")
	}
	m.starts = append(m.starts, uint32(len(m.out)))
	var err error
	m.tmp, err = m.c.compress(m.tmp, m.cur)
	if err != nil {
		return fmt.Errorf("squashfs: compress metadata: %w", err)
	}
	var h [2]byte
	if len(m.tmp) < len(m.cur) {
		binary.LittleEndian.PutUint16(h[:], uint16(len(m.tmp)))
		m.out = append(append(m.out, h[:]...), m.tmp...)
	} else {
		binary.LittleEndian.PutUint16(h[:], uint16(len(m.cur))|metaUncompressed)
		m.out = append(append(m.out, h[:]...), m.cur...)
	}
	m.cur = m.cur[:0]
	return nil
}

// seqWriter writes sequentially to an io.WriterAt through a buffer.
type seqWriter struct {
	w   io.WriterAt
	off int64 // offset of the next byte written
	buf []byte
	at  int64 // offset of buf[0]
	max int64 // the largest offset written before a rewind
}

// rewind moves the write offset back to off, dropping what was written
// after it.
func (s *seqWriter) rewind(off int64) {
	s.max = max(s.max, s.off)
	if off >= s.at {
		s.buf = s.buf[:off-s.at]
	} else {
		s.buf = s.buf[:0]
		s.at = off
	}
	s.off = off
}

func newSeqWriter(w io.WriterAt, off int64) *seqWriter {
	return &seqWriter{w: w, off: off, at: off, buf: make([]byte, 0, 1<<20)}
}

func (s *seqWriter) Write(p []byte) (int, error) {
	if len(s.buf)+len(p) > cap(s.buf) {
		if err := s.flush(); err != nil {
			return 0, err
		}
		if len(p) >= cap(s.buf) {
			n, err := s.w.WriteAt(p, s.off)
			s.off += int64(n)
			s.at = s.off
			return n, err
		}
	}
	s.buf = append(s.buf, p...)
	s.off += int64(len(p))
	return len(p), nil
}

func (s *seqWriter) flush() error {
	if len(s.buf) > 0 {
		if _, err := s.w.WriteAt(s.buf, s.at); err != nil {
			return err
		}
	}
	s.buf = s.buf[:0]
	s.at = s.off
	return nil
}
