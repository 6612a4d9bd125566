package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kitbuild/kit/core/graph"
)

// Annotations naming an image in index.json: the OCI one (read by skopeo,
// crane, ...) and containerd's.
const (
	AnnotationRefName       = "org.opencontainers.image.ref.name"
	AnnotationContainerName = "io.containerd.image.name"
)

const indexLockName = "index.lock"

// Image is a named image recorded in the store's index.json.
type Image struct {
	// Ref is the image reference it was recorded under ("" when unnamed).
	Ref string `json:"ref,omitempty"`
	// Digest is the digest of its manifest (or index).
	Digest    graph.Digest `json:"digest"`
	MediaType string       `json:"mediaType"`
	Size      int64        `json:"size"`
}

func (im Image) descriptor() v1.Descriptor {
	d := v1.Descriptor{
		MediaType: types.MediaType(im.MediaType),
		Size:      im.Size,
		Digest:    v1.Hash{Algorithm: "sha256", Hex: im.Digest.Hex()},
	}
	if im.Ref != "" {
		d.Annotations = map[string]string{AnnotationRefName: im.Ref, AnnotationContainerName: im.Ref}
	}
	return d
}

func imageOf(d v1.Descriptor) (Image, error) {
	dg, err := graph.ParseDigest(d.Digest.String())
	if err != nil {
		return Image{}, err
	}
	ref := d.Annotations[AnnotationRefName]
	if ref == "" {
		ref = d.Annotations[AnnotationContainerName]
	}
	return Image{Ref: ref, Digest: dg, MediaType: string(d.MediaType), Size: d.Size}, nil
}

// readIndex reads index.json.
func (s *Store) readIndex() (*v1.IndexManifest, error) {
	p := s.path(indexFile)
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	defer f.Close()
	im, err := v1.ParseIndexManifest(f)
	if err != nil {
		return nil, fmt.Errorf("cache: parse %s: %w", p, err)
	}
	return im, nil
}

// Images lists the images recorded in index.json, in the order they were
// recorded.
func (s *Store) Images() ([]Image, error) {
	im, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(im.Manifests))
	for _, d := range im.Manifests {
		img, err := imageOf(d)
		if err != nil {
			return nil, fmt.Errorf("cache: %s: %w", s.path(indexFile), err)
		}
		out = append(out, img)
	}
	return out, nil
}

// errUnchanged tells updateIndex that fn left the index as it was.
var errUnchanged = errors.New("index unchanged")

// updateIndex applies fn to index.json under the index lock and writes it
// back atomically, unless fn returns errUnchanged.
func (s *Store) updateIndex(ctx context.Context, fn func(*v1.IndexManifest) error) error {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	f, err := s.flock(ctx, indexLockName, lockExclusiveMode)
	if err != nil {
		return fmt.Errorf("cache: lock %s: %w", s.path(indexFile), err)
	}
	defer unlockFile(f)
	im, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := fn(im); errors.Is(err, errUnchanged) {
		return nil
	} else if err != nil {
		return err
	}
	if im.Manifests == nil {
		im.Manifests = []v1.Descriptor{}
	}
	if im.MediaType == "" {
		im.MediaType = types.OCIImageIndex
	}
	im.SchemaVersion = 2
	b, err := json.MarshalIndent(im, "", "  ")
	if err != nil {
		return fmt.Errorf("cache: encode %s: %w", s.path(indexFile), err)
	}
	if err := s.syncBlobs(); err != nil {
		return err
	}
	return s.writeAtomic(s.path(indexFile), append(b, '\n'), syncLazy)
}

// AddImage records a named image in index.json, so that the store (and
// Export) is an OCI image layout listing it. The manifest blob must be
// present; mediaType may be empty when the manifest names its own. An
// existing entry with the same non-empty ref is replaced.
func (s *Store) AddImage(ref string, manifestDigest graph.Digest, mediaType string) error {
	if err := s.waitDurable(manifestDigest); err != nil {
		return fmt.Errorf("cache: add image %q: %w", ref, err)
	}
	size, err := s.Stat(manifestDigest)
	if err != nil {
		return fmt.Errorf("cache: add image %q: %w", ref, err)
	}
	if mediaType == "" {
		b, err := os.ReadFile(s.blobPath(manifestDigest))
		if err != nil {
			return fmt.Errorf("cache: add image %q: %w", ref, err)
		}
		var m struct {
			MediaType string `json:"mediaType"`
		}
		if json.Unmarshal(b, &m) != nil || m.MediaType == "" {
			return fmt.Errorf("cache: add image %q: manifest %s does not name its media type; give one", ref, manifestDigest)
		}
		mediaType = m.MediaType
	}
	img := Image{Ref: ref, Digest: manifestDigest, MediaType: mediaType, Size: size}
	desc := img.descriptor()
	// recorded reports whether im holds desc under ref, once, and nothing
	// else under ref; kept is im's entries not under ref.
	recorded := func(im *v1.IndexManifest) (kept []v1.Descriptor, ok bool) {
		kept = im.Manifests[:0:0]
		same := 0 // entries replaced that are desc already
		for _, d := range im.Manifests {
			old, err := imageOf(d)
			if err == nil && old.Ref == ref && (ref != "" || old.Digest == manifestDigest) {
				if reflect.DeepEqual(d, desc) {
					same++
				}
				continue
			}
			kept = append(kept, d)
		}
		return kept, same == 1 && len(kept) == len(im.Manifests)-1
	}
	// Every build of a spec records its images, recorded as they are most
	// of the time: index.json is replaced atomically, so a look without
	// the lock tells.
	if im, err := s.readIndex(); err == nil {
		if _, ok := recorded(im); ok {
			return nil
		}
	}
	return s.updateIndex(context.Background(), func(im *v1.IndexManifest) error {
		kept, ok := recorded(im)
		if ok {
			// Recorded as it is: leave index.json, and its position, alone.
			return errUnchanged
		}
		im.Manifests = append(kept, desc)
		return nil
	})
}

// RemoveImage removes the entries recorded under ref from index.json. The
// blobs stay until Prune finds them unreferenced.
func (s *Store) RemoveImage(ref string) error {
	found := false
	err := s.updateIndex(context.Background(), func(im *v1.IndexManifest) error {
		kept := im.Manifests[:0]
		for _, d := range im.Manifests {
			if old, err := imageOf(d); err == nil && old.Ref == ref {
				found = true
				continue
			}
			kept = append(kept, d)
		}
		im.Manifests = kept
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("cache: remove image %q: %w", ref, fs.ErrNotExist)
	}
	return nil
}

// blobRef is a blob a manifest refers to.
type blobRef struct {
	Digest    graph.Digest
	Size      int64
	MediaType string
}

// isManifestType reports whether blobs of media type mt are manifests or
// indexes whose references closure must follow.
func isManifestType(mt string) bool {
	switch types.MediaType(mt) {
	case types.OCIManifestSchema1, types.DockerManifestSchema2, types.OCIImageIndex, types.DockerManifestList:
		return true
	}
	return false
}

func isIndexType(mt string) bool {
	return types.MediaType(mt) == types.OCIImageIndex || types.MediaType(mt) == types.DockerManifestList
}

// children parses a manifest or index and returns the blobs it refers to:
// config, layers (and artifact blobs) of a manifest; manifests of an index.
// A subject is not a child: it is what the manifest refers to, not part of
// it.
func children(b []byte) ([]blobRef, error) {
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	}
	var m struct {
		Config    *desc  `json:"config"`
		Layers    []desc `json:"layers"`
		Blobs     []desc `json:"blobs"`
		Manifests []desc `json:"manifests"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse manifest: %w", err)
	}
	var list []desc
	if m.Config != nil {
		list = append(list, *m.Config)
	}
	list = append(list, m.Layers...)
	list = append(list, m.Blobs...)
	list = append(list, m.Manifests...)
	out := make([]blobRef, 0, len(list))
	for _, d := range list {
		dg, err := graph.ParseDigest(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("manifest refers to %w", err)
		}
		if d.Size < 0 {
			return nil, fmt.Errorf("manifest refers to %s with negative size %d", dg, d.Size)
		}
		out = append(out, blobRef{Digest: dg, Size: d.Size, MediaType: d.MediaType})
	}
	return out, nil
}

// maxDepth bounds the nesting of indexes followed by closure.
const maxDepth = 8

// closure returns root and every blob it refers to, transitively, each once,
// root first. read returns a blob's bytes or an error wrapping
// fs.ErrNotExist. The manifests an index lists may be missing (a partial
// copy of a multi-platform image); they are then left out. Blobs that are
// not manifests (configs, layers) are not read, so their presence is for
// the caller to check.
func closure(root blobRef, read func(graph.Digest) ([]byte, error)) ([]blobRef, error) {
	seen := map[graph.Digest]bool{}
	var out []blobRef
	var visit func(r blobRef, depth int, optional bool) error
	visit = func(r blobRef, depth int, optional bool) error {
		if seen[r.Digest] {
			return nil
		}
		if !isManifestType(r.MediaType) {
			seen[r.Digest] = true
			out = append(out, r)
			return nil
		}
		if depth > maxDepth {
			return fmt.Errorf("manifest %s: indexes nested more than %d deep", r.Digest, maxDepth)
		}
		b, err := read(r.Digest)
		if err != nil {
			if optional && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("manifest %s: %w", r.Digest, err)
		}
		if graph.FromBytes(b) != r.Digest {
			return fmt.Errorf("manifest %s: content has digest %s: %w", r.Digest, graph.FromBytes(b), ErrDigestMismatch)
		}
		seen[r.Digest] = true
		out = append(out, r)
		kids, err := children(b)
		if err != nil {
			return fmt.Errorf("manifest %s: %w", r.Digest, err)
		}
		for _, k := range kids {
			if err := visit(k, depth+1, isIndexType(r.MediaType)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(root, 0, false); err != nil {
		return nil, err
	}
	return out, nil
}

// readManifest reads a manifest blob from the store; manifests are small,
// and a huge one is refused rather than read into memory.
func (s *Store) readManifest(d graph.Digest) ([]byte, error) {
	n, err := s.Stat(d)
	if err != nil {
		return nil, err
	}
	if n > maxManifestSize {
		return nil, fmt.Errorf("cache: manifest %s: %d bytes is more than the %d allowed", d, n, maxManifestSize)
	}
	rc, err := s.Open(context.Background(), d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

const maxManifestSize = 8 << 20
