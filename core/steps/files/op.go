package files

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// Kind is the step kind of Op.
const Kind = "files"

// version is the implementation version of Op.
const version = "1"

// Output names and media type.
const (
	// FilesName is the normalized tar of the entries themselves.
	FilesName = "files.tar"
	// ParentsName is the normalized tar of the parent directories the
	// entries need and no entry creates. The assemble step lays it under
	// everything else, so it only fills directories that are missing from
	// the root filesystem and never changes the mode of an existing one.
	ParentsName = "parents.tar"
	// MediaType is the media type of both outputs.
	MediaType = tarutil.MediaType
)

// Op is the "files" step. It has no inputs and two outputs, files.tar and
// parents.tar (see the constants).
type Op struct {
	// Entries are the resolved entries in spec order; where two have the
	// same path the later one wins.
	Entries []Entry
	// SourceDateEpoch is the modification time of every entry.
	SourceDateEpoch int64
}

var _ graph.Op = Op{}

// Kind returns "files".
func (Op) Kind() string { return Kind }

// Version returns the implementation version.
func (Op) Version() string { return version }

type params struct {
	Entries         []Entry `json:"entries"`
	SourceDateEpoch int64   `json:"sourceDateEpoch"`
}

// Params returns the canonical JSON of the op: the entries (a source by
// digest and size, not by path) and the epoch. Invalid entries are reported
// here, when the plan is made.
func (o Op) Params() ([]byte, error) {
	if _, err := plan(o.Entries); err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	entries := o.Entries
	if entries == nil {
		entries = []Entry{}
	}
	return json.Marshal(params{Entries: entries, SourceDateEpoch: o.SourceDateEpoch})
}

// Exec writes files.tar and parents.tar. A source file is read again and
// must still have the digest it had when the plan was made.
func (o Op) Exec(ctx context.Context, x graph.Exec, _ []graph.Result) ([]graph.Output, error) {
	l, err := plan(o.Entries)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	mtime := time.Unix(o.SourceDateEpoch, 0)
	files, err := writeTar(ctx, x, FilesName, o.SourceDateEpoch, func(tw *tarutil.Writer) error {
		for _, e := range l.entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := writeEntry(tw, e, mtime); err != nil {
				return fmt.Errorf("files: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	parents, err := writeTar(ctx, x, ParentsName, o.SourceDateEpoch, func(tw *tarutil.Writer) error {
		for _, p := range l.parents {
			hdr := &tar.Header{
				Name: p.path, Typeflag: tar.TypeDir, Mode: int64(p.mode),
				Uid: int(p.uid), Gid: int(p.gid), ModTime: mtime,
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("files: parent directory %s: %w", p.path, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []graph.Output{files, parents}, nil
}

// writeTar streams the normalized tar written by fill into a new blob named
// name.
func writeTar(ctx context.Context, x graph.Exec, name string, epoch int64, fill func(*tarutil.Writer) error) (graph.Output, error) {
	return tarutil.WriteBlob(ctx, x, name, epoch, fill)
}

// writeEntry writes one entry's header and contents.
func writeEntry(tw *tarutil.Writer, e *Entry, mtime time.Time) error {
	hdr := &tar.Header{
		Name: e.Path, Mode: int64(e.Mode), Uid: int(e.UID), Gid: int(e.GID), ModTime: mtime,
	}
	switch e.Kind {
	case KindDir:
		hdr.Typeflag = tar.TypeDir
		return tw.WriteHeader(hdr)
	case KindSymlink:
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = e.Target
		return tw.WriteHeader(hdr)
	}
	hdr.Typeflag = tar.TypeReg
	if e.Source == nil {
		hdr.Size = int64(len(e.Contents))
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", e.name(), err)
		}
		_, err := tw.Write(e.Contents)
		return err
	}
	return copySource(tw, hdr, e)
}

// copySource writes a source file's contents, checking that they are still
// those the plan was made with. The tar is discarded on a mismatch.
func copySource(tw *tarutil.Writer, hdr *tar.Header, e *Entry) error {
	s := e.Source
	f, err := os.Open(s.Path)
	if err != nil {
		return fmt.Errorf("%s: source %s: %w", e.name(), s.Path, err)
	}
	defer f.Close()
	hdr.Size = s.Size
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", e.name(), err)
	}
	d := graph.NewDigester()
	n, err := io.Copy(io.MultiWriter(tw, d), io.LimitReader(f, s.Size))
	if err != nil {
		return fmt.Errorf("%s: source %s: %w", e.name(), s.Path, err)
	}
	var extra [1]byte
	if n != s.Size {
		return fmt.Errorf("%s: source %s: %w: it has %d bytes, the plan had %d",
			e.name(), s.Path, ErrSourceChanged, n, s.Size)
	}
	if m, _ := f.Read(extra[:]); m > 0 {
		return fmt.Errorf("%s: source %s: %w: it grew beyond the %d bytes of the plan",
			e.name(), s.Path, ErrSourceChanged, s.Size)
	}
	if got := d.Digest(); got != s.Digest {
		return fmt.Errorf("%s: source %s: %w: digest %s, the plan had %s",
			e.name(), s.Path, ErrSourceChanged, got, s.Digest)
	}
	return nil
}
