package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kitbuild/kit/core/graph"
)

// Output records let a warm build leave an artifact alone when the file
// in the output directory is still the one kit wrote: after writing (or
// verifying) DIR/N-initrd.img, kit records its digest and what stat says of
// it (device, inode, size, modification and change times) under the
// cache's outputs/ directory. A later build that would write the same
// digest there and finds the same stat skips the copy. Any write to the
// file, a rename over it, a chmod or a touch moves its change time, which
// no user can set back.
//
// As git does with its index, a record made within racyAge of the file's
// last change proves nothing (a write in the same clock tick leaves the
// times as they were): such a file is hashed instead, and the record is
// made again, now old enough to be trusted next time.
const recordRacyAge = 50 * time.Millisecond

// outputRecord is what kit knows of an artifact it left in place.
type outputRecord struct {
	Digest   graph.Digest `json:"digest"`
	Dev      uint64       `json:"dev"`
	Ino      uint64       `json:"ino"`
	Size     int64        `json:"size"`
	MtimeNs  int64        `json:"mtimeNs"`
	CtimeNs  int64        `json:"ctimeNs"`
	Recorded int64        `json:"recordedNs"`
}

// outputRecords stores records under dir; a zero value does nothing.
type outputRecords struct {
	dir string
}

func (r outputRecords) path(file string) string {
	abs, err := filepath.Abs(file)
	if err != nil {
		abs = file
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(r.dir, hex.EncodeToString(sum[:16])+".json")
}

// stat describes file as a record would, without digest and time.
func statRecord(file string) (outputRecord, bool) {
	fi, err := os.Lstat(file)
	if err != nil || !fi.Mode().IsRegular() {
		return outputRecord{}, false
	}
	dev, ino, ctime, ok := fileIdentity(fi)
	if !ok {
		return outputRecord{}, false
	}
	return outputRecord{
		Dev: dev, Ino: ino, Size: fi.Size(),
		MtimeNs: fi.ModTime().UnixNano(), CtimeNs: ctime.UnixNano(),
	}, true
}

// upToDate reports whether file holds the blob d, of size bytes, as kit
// left it: by its record when the record can be trusted, else by hashing
// the file (then recording it again). Any doubt answers false.
func (r outputRecords) upToDate(file string, d graph.Digest, size int64) bool {
	if r.dir == "" {
		return false
	}
	now, ok := statRecord(file)
	if !ok || now.Size != size {
		return false
	}
	b, err := os.ReadFile(r.path(file))
	if err != nil {
		return false
	}
	var rec outputRecord
	if json.Unmarshal(b, &rec) != nil || rec.Digest != d {
		return false
	}
	same := rec.Dev == now.Dev && rec.Ino == now.Ino && rec.Size == now.Size &&
		rec.MtimeNs == now.MtimeNs && rec.CtimeNs == now.CtimeNs
	if !same {
		return false
	}
	if rec.Recorded-rec.CtimeNs >= recordRacyAge.Nanoseconds() {
		return true
	}
	// Racy: look at the content, and record it again if it is right.
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	dg := graph.NewDigester()
	if _, err := io.Copy(dg, f); err != nil || dg.Digest() != d {
		return false
	}
	if after, ok := statRecord(file); !ok || after != now {
		return false
	}
	r.record(file, d)
	return true
}

// record notes that file holds the blob d as kit left it. Failing to
// record only costs a copy next time.
func (r outputRecords) record(file string, d graph.Digest) {
	if r.dir == "" {
		return
	}
	rec, ok := statRecord(file)
	if !ok {
		return
	}
	rec.Digest = d
	rec.Recorded = time.Now().UnixNano()
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return
	}
	p := r.path(file)
	tmp, err := os.CreateTemp(r.dir, ".rec-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), p) != nil {
		os.Remove(tmp.Name())
	}
}
