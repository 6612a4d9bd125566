package pkg

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/pkg/deb"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// Step kinds of package builds.
const (
	KindDebs   = "pkg-debs"
	KindKernel = "pkg-kernel"
	KindGo     = "pkg-go"
	KindFiles  = "pkg-files"
	KindImage  = "pkg-image"
)

// DebsOp is the "pkg-debs" step: it downloads the pinned .debs (verified
// against the lock's SHA256 and size) and merges their data.tar members into
// one normalized tar (output LayerName). Maintainer scripts are not run.
// Where two packages ship the same path, the later one in lock order wins;
// hard links become copies of their targets.
type DebsOp struct {
	Packages []deb.Locked
	// Exclude are clean absolute paths left out with everything below them.
	Exclude []string
	Epoch   int64
	// ClientOptions configure the apt client (not part of the key).
	ClientOptions []deb.Option
}

// Kind returns KindDebs.
func (DebsOp) Kind() string { return KindDebs }

// Version returns the implementation version.
func (DebsOp) Version() string { return "1" }

// Params returns the pinned packages and excluded paths.
func (o DebsOp) Params() ([]byte, error) {
	ex := o.Exclude
	if ex == nil {
		ex = []string{}
	}
	return json.Marshal(struct {
		Packages []deb.Locked `json:"packages"`
		Exclude  []string     `json:"exclude"`
		Epoch    int64        `json:"sourceDateEpoch"`
	}{o.Packages, ex, o.Epoch})
}

// execStore adapts a graph.Exec to deb.Store.
type execStore struct{ x graph.Exec }

func (s execStore) Has(d graph.Digest) bool { _, err := s.x.Path(d); return err == nil }
func (s execStore) Open(ctx context.Context, d graph.Digest) (io.ReadCloser, error) {
	return s.x.Open(ctx, d)
}
func (s execStore) Create(ctx context.Context) (graph.BlobWriter, error) { return s.x.Create(ctx) }

// spooled is an entry of the merged tree; regular files' content is kept in
// a scratch file.
type spooled struct {
	hdr   *tar.Header
	spool string
}

// Exec downloads and merges the packages.
func (o DebsOp) Exec(ctx context.Context, x graph.Exec, _ []graph.Result) ([]graph.Output, error) {
	client := deb.NewClient(execStore{x}, o.ClientOptions...)
	tmp, err := x.TempDir()
	if err != nil {
		return nil, err
	}
	excluded := func(name string) bool {
		for _, e := range o.Exclude {
			e = strings.TrimPrefix(e, "/")
			if name == e || strings.HasPrefix(name, e+"/") {
				return true
			}
		}
		return false
	}
	tree := map[string]*spooled{}
	n := 0
	var total int64
	for _, l := range o.Packages {
		total += l.Size
	}
	var done int64
	for _, l := range o.Packages {
		out, err := client.Download(ctx, l)
		if err != nil {
			return nil, err // names the package and the mirror
		}
		done += l.Size
		x.Progress(done, total)
		if err := func() error {
			rc, err := x.Open(ctx, out.Digest)
			if err != nil {
				return err
			}
			defer rc.Close()
			d, err := deb.OpenDeb(rc)
			if err != nil {
				return err
			}
			return d.WalkData(ctx, func(h *tar.Header, r io.Reader) error {
				h = tarutil.Clone(h)
				if err := tarutil.Normalize(h, o.Epoch); err != nil {
					return err
				}
				if excluded(h.Name) {
					return nil
				}
				e := &spooled{hdr: h}
				switch h.Typeflag {
				case tar.TypeReg:
					n++
					e.spool = filepath.Join(tmp, strconv.Itoa(n))
					f, err := os.Create(e.spool)
					if err != nil {
						return err
					}
					_, err = io.Copy(f, r)
					if cerr := f.Close(); err == nil {
						err = cerr
					}
					if err != nil {
						return fmt.Errorf("%s: %w", h.Name, err)
					}
				case tar.TypeLink:
					t, ok := tree[h.Linkname]
					if !ok || t.spool == "" {
						return fmt.Errorf("%s: hard link to %s, which is not an earlier regular file (or is excluded)", h.Name, h.Linkname)
					}
					// a copy of the target: sorting may put the link first
					h.Typeflag, h.Linkname, h.Size = tar.TypeReg, "", t.hdr.Size
					e.spool = t.spool
				}
				if prev, ok := tree[h.Name]; ok && prev.hdr.Typeflag == tar.TypeDir && h.Typeflag == tar.TypeDir {
					return nil // a directory several packages share
				}
				tree[h.Name] = e
				return nil
			})
		}(); err != nil {
			return nil, fmt.Errorf("debian package %s %s: %w", l.Name, l.Version, err)
		}
	}
	names := make([]string, 0, len(tree))
	have := map[string]bool{}
	for name := range tree {
		names = append(names, name)
		have[name] = true
	}
	for _, h := range parentDirs(have, names) {
		tree[h.Name] = &spooled{hdr: h}
		names = append(names, h.Name)
	}
	sort.Strings(names)
	out, err := writeTar(ctx, x, LayerName, o.Epoch, func(tw *tarutil.Writer) error {
		for _, name := range names {
			if err := ctx.Err(); err != nil {
				return err
			}
			e := tree[name]
			if err := writeSpooled(tw, e); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("debian layer: %w", err)
	}
	return []graph.Output{out}, nil
}

func writeSpooled(tw *tarutil.Writer, e *spooled) error {
	if err := tw.WriteHeader(e.hdr); err != nil {
		return err
	}
	if e.spool == "" {
		return nil
	}
	f, err := os.Open(e.spool)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(tw, f)
	if err == nil && n != e.hdr.Size {
		err = fmt.Errorf("spooled %d bytes, header says %d", n, e.hdr.Size)
	}
	return err
}
