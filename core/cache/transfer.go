package cache

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/internal/ctxio"
)

// Export writes the images recorded in index.json under refs (every image
// when refs is empty) to dir as an OCI image layout: their blobs, copied
// and verified, and an index.json listing their manifests. An existing
// layout in dir is added to; an entry with the same ref is replaced.
func (s *Store) Export(ctx context.Context, dir string, refs ...string) ([]Image, error) {
	unlock, err := s.LockShared(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, err := s.Images()
	if err != nil {
		return nil, err
	}
	images := all
	if len(refs) > 0 {
		images = nil
		for _, ref := range refs {
			found := false
			for _, im := range all {
				if im.Ref == ref {
					images = append(images, im)
					found = true
				}
			}
			if !found {
				return nil, fmt.Errorf("cache: export: no image %q in %s: %w", ref, s.dir, fs.ErrNotExist)
			}
		}
	}
	var p layout.Path
	if _, err := os.Stat(filepath.Join(dir, layoutFile)); err == nil {
		if p, err = layout.FromPath(dir); err != nil {
			return nil, fmt.Errorf("cache: export to %s: %w", dir, err)
		}
	} else if p, err = layout.Write(dir, empty.Index); err != nil {
		return nil, fmt.Errorf("cache: export to %s: %w", dir, err)
	}
	dst := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, fmt.Errorf("cache: export: %w", err)
	}
	for _, im := range images {
		refs, err := closure(blobRef{Digest: im.Digest, Size: im.Size, MediaType: im.MediaType}, s.readManifest)
		if err != nil {
			return nil, fmt.Errorf("cache: export image %q: %w", im.Ref, err)
		}
		for _, r := range refs {
			if err := s.exportBlob(ctx, dst, r); err != nil {
				return nil, fmt.Errorf("cache: export image %q: %w", im.Ref, err)
			}
		}
		if im.Ref != "" {
			if err := p.RemoveDescriptors(match.Annotation(AnnotationRefName, im.Ref)); err != nil {
				return nil, fmt.Errorf("cache: export image %q: index of %s: %w", im.Ref, dir, err)
			}
		}
		if err := p.AppendDescriptor(im.descriptor()); err != nil {
			return nil, fmt.Errorf("cache: export image %q: index of %s: %w", im.Ref, dir, err)
		}
	}
	return images, nil
}

// exportBlob copies a blob of the store into the blobs directory dst,
// through a temporary file, verifying its digest and size. A file already
// there with the right size is kept.
func (s *Store) exportBlob(ctx context.Context, dst string, r blobRef) error {
	target := filepath.Join(dst, r.Digest.Hex())
	if fi, err := os.Stat(target); err == nil && fi.Mode().IsRegular() && fi.Size() == r.Size {
		return nil
	}
	src, err := s.Open(ctx, r.Digest)
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := os.CreateTemp(dst, ".tmp-"+r.Digest.Hex()[:12]+"-")
	if err != nil {
		return fmt.Errorf("blob %s: %w", r.Digest, err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	dg := graph.NewDigester()
	n, err := io.Copy(io.MultiWriter(f, dg), ctxio.Reader(ctx, src))
	if err != nil {
		return fmt.Errorf("blob %s: copy to %s: %w", r.Digest, dst, err)
	}
	if got := dg.Digest(); got != r.Digest || n != r.Size {
		return fmt.Errorf("blob %s (%d bytes): the store holds %s (%d bytes): %w", r.Digest, r.Size, got, n, ErrDigestMismatch)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("blob %s: %w", r.Digest, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("blob %s: %w", r.Digest, err)
	}
	if err := os.Rename(f.Name(), target); err != nil {
		return fmt.Errorf("blob %s: %w", r.Digest, err)
	}
	return nil
}

// Import copies the images of an OCI image layout directory, or of a
// `docker save` tarball, into the store, verifying every blob, and records
// them in index.json under their names (the layout's ref.name annotations,
// the tarball's repo tags). It returns the images recorded.
func (s *Store) Import(ctx context.Context, path string) ([]Image, error) {
	unlock, err := s.LockShared(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cache: import: %w", err)
	}
	var out []Image
	if fi.IsDir() {
		out, err = s.importLayout(ctx, path)
	} else {
		out, err = s.importTarball(ctx, path)
	}
	if err != nil {
		return nil, fmt.Errorf("cache: import %s: %w", path, err)
	}
	return out, nil
}

func (s *Store) importLayout(ctx context.Context, dir string) ([]Image, error) {
	if _, err := os.Stat(filepath.Join(dir, layoutFile)); err != nil {
		return nil, fmt.Errorf("not an OCI image layout: %w", err)
	}
	p := layout.Path(dir)
	ii, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	read := func(d graph.Digest) ([]byte, error) {
		h := v1.Hash{Algorithm: "sha256", Hex: d.Hex()}
		fi, err := os.Stat(filepath.Join(dir, "blobs", "sha256", d.Hex()))
		if err != nil {
			return nil, fmt.Errorf("blob %s: %w", d, err)
		}
		if fi.Size() > maxManifestSize {
			return nil, fmt.Errorf("manifest %s: %d bytes is more than the %d allowed", d, fi.Size(), maxManifestSize)
		}
		return p.Bytes(h)
	}
	var out []Image
	for _, d := range im.Manifests {
		img, err := imageOf(d)
		if err != nil {
			return nil, err
		}
		refs, err := closure(blobRef{Digest: img.Digest, Size: img.Size, MediaType: img.MediaType}, read)
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", img.Ref, err)
		}
		for _, r := range refs {
			if err := s.importBlob(ctx, dir, r); err != nil {
				return nil, fmt.Errorf("image %q: %w", img.Ref, err)
			}
		}
		if err := s.AddImage(img.Ref, img.Digest, img.MediaType); err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

func (s *Store) importBlob(ctx context.Context, dir string, r blobRef) error {
	f, err := os.Open(filepath.Join(dir, "blobs", "sha256", r.Digest.Hex()))
	if err != nil {
		return fmt.Errorf("blob %s: %w", r.Digest, err)
	}
	defer f.Close()
	_, err = s.Put(ctx, f, r.Digest, r.Size)
	return err
}

func (s *Store) importTarball(ctx context.Context, path string) ([]Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("read manifest.json: %w", err)
	}
	var out []Image
	for i, entry := range m {
		var tag *name.Tag
		switch {
		case len(entry.RepoTags) > 0:
			t, err := name.NewTag(entry.RepoTags[0])
			if err != nil {
				return nil, fmt.Errorf("manifest.json entry %d: %w", i, err)
			}
			tag = &t
		case len(m) != 1:
			return nil, fmt.Errorf("manifest.json entry %d (config %s) has no repo tag, and the tarball holds %d images", i, entry.Config, len(m))
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return nil, fmt.Errorf("manifest.json entry %d: %w", i, err)
		}
		stored, err := s.putImage(ctx, img)
		if err != nil {
			return nil, fmt.Errorf("manifest.json entry %d: %w", i, err)
		}
		refs := entry.RepoTags
		if len(refs) == 0 {
			refs = []string{""}
		}
		for _, ref := range refs {
			if err := s.AddImage(ref, stored.Digest, stored.MediaType); err != nil {
				return nil, err
			}
			stored.Ref = ref
			out = append(out, stored)
		}
	}
	return out, nil
}

// putImage stores the layers, config and manifest of img, verified.
func (s *Store) putImage(ctx context.Context, img v1.Image) (Image, error) {
	layers, err := img.Layers()
	if err != nil {
		return Image{}, err
	}
	for i, l := range layers {
		if err := s.putLayer(ctx, l); err != nil {
			return Image{}, fmt.Errorf("layer %d: %w", i, err)
		}
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return Image{}, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return Image{}, err
	}
	if _, err := s.PutBytes(ctx, cfg, graph.Digest(cfgName.String())); err != nil {
		return Image{}, fmt.Errorf("config: %w", err)
	}
	mf, err := img.RawManifest()
	if err != nil {
		return Image{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return Image{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return Image{}, err
	}
	o, err := s.PutBytes(ctx, mf, graph.Digest(d.String()))
	if err != nil {
		return Image{}, fmt.Errorf("manifest: %w", err)
	}
	return Image{Digest: o.Digest, MediaType: string(mt), Size: o.Size}, nil
}

func (s *Store) putLayer(ctx context.Context, l v1.Layer) error {
	d, err := l.Digest()
	if err != nil {
		return err
	}
	want, err := graph.ParseDigest(d.String())
	if err != nil {
		return err
	}
	size, err := l.Size()
	if err != nil {
		return fmt.Errorf("%s: %w", want, err)
	}
	if n, err := s.Stat(want); err == nil && n == size {
		return nil
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("%s: %w", want, err)
	}
	defer rc.Close()
	_, err = s.Put(ctx, rc, want, size)
	return err
}
