package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kitbuild/kit/core/graph"
)

// Entry describes an action cache entry (see List).
type Entry struct {
	Key     graph.Key      `json:"key"`
	Name    string         `json:"name"`
	Kind    string         `json:"kind"`
	Outputs []graph.Output `json:"outputs"`
	// Size is the bytes of its distinct output blobs.
	Size     int64     `json:"size"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"lastUsed"`
	// Complete is false when some output blob is missing (the entry is then
	// a miss, and Prune drops it).
	Complete bool `json:"complete"`
}

// List returns the entries of the action cache, most recently used first.
// Damaged entry files (which Prune removes) are left out.
func (s *Store) List(ctx context.Context) ([]Entry, error) {
	ents, err := s.readEntries(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(ents))
	for _, e := range ents {
		if e.Key != "" {
			out = append(out, e.Entry)
		}
	}
	return out, nil
}

type entry struct {
	Entry
	path string
}

// readEntries reads every action file, most recently used first. Undecodable
// files are returned with an empty key (Prune removes them).
func (s *Store) readEntries(ctx context.Context) ([]entry, error) {
	root := s.path(actionsDir)
	des, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("cache: read %s: %w", root, err)
	}
	sizes := map[graph.Digest]int64{}
	var out []entry
	for _, de := range des {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !de.Type().IsRegular() || !strings.HasSuffix(de.Name(), ".json") {
			continue
		}
		p := filepath.Join(root, de.Name())
		info, err := de.Info()
		if err != nil {
			continue
		}
		e := entry{path: p}
		e.LastUsed = info.ModTime()
		a, err := readAction(p)
		if err != nil {
			return nil, err
		}
		if a == nil || a.Key.Hex()+".json" != de.Name() {
			out = append(out, e)
			continue
		}
		e.Key, e.Name, e.Kind, e.Outputs, e.Created = a.Key, a.Name, a.Components.Kind, a.Outputs, a.Created
		e.Complete = true
		seen := map[graph.Digest]bool{}
		for _, o := range a.Outputs {
			n, ok := sizes[o.Digest]
			if !ok {
				var err error
				if n, err = s.Stat(o.Digest); err != nil {
					n = -1
				}
				sizes[o.Digest] = n
			}
			if n != o.Size {
				e.Complete = false
			}
			if !seen[o.Digest] {
				seen[o.Digest] = true
				e.Size += o.Size
			}
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].LastUsed.Equal(out[j].LastUsed) {
			return out[i].LastUsed.After(out[j].LastUsed)
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// Usage is the disk usage of a store (see DiskUsage).
type Usage struct {
	Blobs     int   `json:"blobs"`
	BlobBytes int64 `json:"blobBytes"`
	// ReferencedBytes is the part of BlobBytes that complete actions or
	// recorded images refer to; the rest is what Prune(…, ∞) would free.
	ReferencedBytes int64 `json:"referencedBytes"`
	Actions         int   `json:"actions"`
	// ActionBytes counts the action and name entries.
	ActionBytes int64 `json:"actionBytes"`
	Images      int   `json:"images"`
	Temp        int   `json:"temp"`
	TempBytes   int64 `json:"tempBytes"`
	TotalBytes  int64 `json:"totalBytes"`
}

// DiskUsage measures the store.
func (s *Store) DiskUsage(ctx context.Context) (Usage, error) {
	var u Usage
	blobs, err := s.listBlobs(ctx)
	if err != nil {
		return u, err
	}
	for _, n := range blobs {
		u.Blobs++
		u.BlobBytes += n
	}
	ents, err := s.readEntries(ctx)
	if err != nil {
		return u, err
	}
	refd := map[graph.Digest]bool{}
	for _, e := range ents {
		if e.Complete {
			for _, o := range e.Outputs {
				refd[o.Digest] = true
			}
		}
	}
	images, err := s.Images()
	if err != nil {
		return u, err
	}
	u.Images = len(images)
	if err := s.imageBlobs(images, refd); err != nil {
		return u, err
	}
	for d := range refd {
		u.ReferencedBytes += max(blobs[d], 0)
	}
	for _, dir := range []string{actionsDir, namesDir} {
		des, err := os.ReadDir(s.path(dir))
		if err != nil {
			return u, fmt.Errorf("cache: %w", err)
		}
		for _, de := range des {
			if info, err := de.Info(); err == nil && info.Mode().IsRegular() {
				if dir == actionsDir {
					u.Actions++
				}
				u.ActionBytes += info.Size()
			}
		}
	}
	des, err := os.ReadDir(s.path(tmpDir))
	if err != nil {
		return u, fmt.Errorf("cache: %w", err)
	}
	for _, de := range des {
		u.Temp++
		u.TempBytes += treeSize(filepath.Join(s.path(tmpDir), de.Name()))
	}
	u.TotalBytes = u.BlobBytes + u.ActionBytes + u.TempBytes
	return u, nil
}

// listBlobs returns the size of every blob file.
func (s *Store) listBlobs(ctx context.Context) (map[graph.Digest]int64, error) {
	root := s.path(blobsDir)
	des, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("cache: read %s: %w", root, err)
	}
	out := make(map[graph.Digest]int64, len(des))
	for _, de := range des {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !de.Type().IsRegular() || !isHex64(de.Name()) {
			continue
		}
		if info, err := de.Info(); err == nil {
			out[graph.Digest("sha256:"+de.Name())] = info.Size()
		}
	}
	return out, nil
}

// imageBlobs adds to set the blobs of the recorded images that are present.
func (s *Store) imageBlobs(images []Image, set map[graph.Digest]bool) error {
	for _, im := range images {
		refs, err := closure(blobRef{Digest: im.Digest, Size: im.Size, MediaType: im.MediaType}, s.readManifest)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the manifest is gone: nothing of it to keep
		}
		if err != nil {
			return fmt.Errorf("cache: image %q: %w", im.Ref, err)
		}
		for _, r := range refs {
			set[r.Digest] = true
		}
	}
	return nil
}

// PruneOption changes what Prune removes.
type PruneOption func(*pruneOptions)

type pruneOptions struct {
	images  bool
	tempAge time.Duration
}

// PruneImages makes Prune also forget the images recorded in index.json, so
// that their blobs are kept only when a kept action refers to them.
func PruneImages() PruneOption { return func(o *pruneOptions) { o.images = true } }

// PruneTempOlderThan sets how old a temporary directory must be to be
// removed (StaleTempAge by default).
func PruneTempOlderThan(d time.Duration) PruneOption {
	return func(o *pruneOptions) { o.tempAge = d }
}

// PruneReport says what Prune did.
type PruneReport struct {
	ActionsKept    int `json:"actionsKept"`
	ActionsRemoved int `json:"actionsRemoved"`
	// KeptBytes is the bytes of the blobs the kept actions refer to.
	KeptBytes     int64 `json:"keptBytes"`
	BlobsRemoved  int   `json:"blobsRemoved"`
	ImagesRemoved int   `json:"imagesRemoved"`
	TempRemoved   int   `json:"tempRemoved"`
	// FreedBytes counts removed blobs and temporary files.
	FreedBytes int64 `json:"freedBytes"`
}

// Prune shrinks the store. It drops the least recently used actions until
// the blobs referenced by the kept ones total at most keepBytes (0 drops
// every action, and the name entries kept for explain), then deletes every
// blob that neither a kept action nor a recorded image refers to (images
// count as roots unless PruneImages is given), removes temporary files of
// dead processes, temporary directories older than StaleTempAge and idle
// lock files.
//
// Prune takes the store-wide lock exclusively, so it waits (until ctx is
// done) for running builds that hold LockShared; it fails at once if this
// Store holds the shared lock.
func (s *Store) Prune(ctx context.Context, keepBytes int64, opts ...PruneOption) (PruneReport, error) {
	o := pruneOptions{tempAge: StaleTempAge}
	for _, opt := range opts {
		opt(&o)
	}
	var rep PruneReport
	unlock, err := s.lockExclusive(ctx)
	if err != nil {
		return rep, err
	}
	defer unlock()

	n, size, err := s.sweepTemp(o.tempAge, true)
	rep.TempRemoved, rep.FreedBytes = n, size
	if err != nil {
		return rep, err
	}

	ents, err := s.readEntries(ctx)
	if err != nil {
		return rep, err
	}
	blobs, err := s.listBlobs(ctx)
	if err != nil {
		return rep, err
	}
	// Reference counts of the blobs of the complete entries; drop entries
	// from the least recently used end until the total fits.
	refs := map[graph.Digest]int{}
	var total int64
	var kept []entry
	var drop []entry
	for _, e := range ents {
		if e.Key == "" || !e.Complete {
			drop = append(drop, e)
			continue
		}
		kept = append(kept, e)
		for _, d := range distinct(e.Outputs) {
			if refs[d] == 0 {
				total += blobs[d]
			}
			refs[d]++
		}
	}
	for len(kept) > 0 && (total > keepBytes || keepBytes <= 0) {
		e := kept[len(kept)-1]
		kept = kept[:len(kept)-1]
		drop = append(drop, e)
		for _, d := range distinct(e.Outputs) {
			refs[d]--
			if refs[d] == 0 {
				total -= blobs[d]
				delete(refs, d)
			}
		}
	}
	rep.ActionsKept, rep.KeptBytes = len(kept), total
	for _, e := range drop {
		if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rep, fmt.Errorf("cache: prune action %s: %w", e.path, err)
		}
		rep.ActionsRemoved++
	}
	if keepBytes <= 0 {
		if err := removeFiles(s.path(namesDir)); err != nil {
			return rep, err
		}
	}

	if o.images {
		err = s.updateIndex(ctx, func(im *v1.IndexManifest) error {
			rep.ImagesRemoved = len(im.Manifests)
			im.Manifests = nil
			return nil
		})
		if err != nil {
			return rep, err
		}
	}
	images, err := s.Images()
	if err != nil {
		return rep, err
	}
	keep := map[graph.Digest]bool{}
	for d := range refs {
		keep[d] = true
	}
	if err := s.imageBlobs(images, keep); err != nil {
		return rep, err
	}
	for d, n := range blobs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if keep[d] {
			continue
		}
		if err := os.Remove(s.blobPath(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rep, fmt.Errorf("cache: prune blob %s: %w", d, err)
		}
		rep.BlobsRemoved++
		rep.FreedBytes += n
	}

	// Idle per-key lock files (a waiter re-checks the path after locking).
	des, err := os.ReadDir(s.path(locksDir))
	if err != nil {
		return rep, fmt.Errorf("cache: %w", err)
	}
	for _, de := range des {
		if hexPart, ok := strings.CutSuffix(de.Name(), ".lock"); ok && isHex64(hexPart) {
			if _, err := tryRemoveLocked(filepath.Join(s.path(locksDir), de.Name())); err != nil {
				return rep, fmt.Errorf("cache: prune lock file: %w", err)
			}
		}
	}
	return rep, nil
}

func distinct(outs []graph.Output) []graph.Digest {
	var out []graph.Digest
	seen := map[graph.Digest]bool{}
	for _, o := range outs {
		if !seen[o.Digest] {
			seen[o.Digest] = true
			out = append(out, o.Digest)
		}
	}
	return out
}

// removeFiles removes the regular files directly under dir.
func removeFiles(dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	for _, de := range des {
		if de.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, de.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("cache: %w", err)
			}
		}
	}
	return nil
}
