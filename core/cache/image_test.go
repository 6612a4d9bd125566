package cache_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
)

func TestAddImage(t *testing.T) {
	s := newStore(t)
	d1 := putImage(t, s, "kit.test/a:1", 1)[0]
	d2 := putImage(t, s, "kit.test/b:1", 2)[0]
	// Same ref again replaces the entry.
	d3 := putImage(t, s, "kit.test/a:1", 3)[0]
	images, err := s.Images()
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 2 || images[0].Ref != "kit.test/b:1" || images[0].Digest != d2 || images[1].Ref != "kit.test/a:1" || images[1].Digest != d3 {
		t.Fatalf("Images = %+v (first a was %s)", images, d1)
	}
	if images[1].MediaType != string(types.OCIManifestSchema1) || images[1].Size == 0 {
		t.Fatalf("media type or size not recorded: %+v", images[1])
	}
	// The store itself is an OCI layout ggcr reads.
	ii, err := layout.ImageIndexFromPath(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	im, err := ii.IndexManifest()
	if err != nil || len(im.Manifests) != 2 || im.Manifests[1].Annotations[cache.AnnotationRefName] != "kit.test/a:1" {
		t.Fatalf("index.json as ggcr reads it: %+v, %v", im, err)
	}
	missing := graph.FromBytes([]byte("no manifest"))
	if err := s.AddImage("kit.test/c:1", missing, "application/vnd.oci.image.manifest.v1+json"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("AddImage of a missing manifest: %v", err)
	}
	raw := put(t, s, "raw", []byte("not json"))
	if err := s.AddImage("kit.test/raw", raw.Digest, ""); err == nil {
		t.Fatal("AddImage guessed a media type for a non-manifest")
	}
	if err := s.RemoveImage("kit.test/b:1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveImage("kit.test/b:1"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("second RemoveImage: %v", err)
	}
	if images, _ := s.Images(); len(images) != 1 {
		t.Fatalf("Images after remove: %+v", images)
	}
}

// validateLayout reads every image of the layout at dir with ggcr and checks
// every digest in it; it returns the refs it found.
func validateLayout(t *testing.T, dir string) map[string]v1.Hash {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatalf("layout.FromPath(%s): %v", dir, err)
	}
	ii, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]v1.Hash{}
	for _, d := range im.Manifests {
		refs[d.Annotations[cache.AnnotationRefName]] = d.Digest
		switch d.MediaType {
		case types.OCIImageIndex, types.DockerManifestList:
			idx, err := ii.ImageIndex(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			checkIndex(t, idx)
		default:
			img, err := ii.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			checkImage(t, img)
		}
	}
	return refs
}

// checkImage reads every blob of img and checks it against the digests and
// sizes its manifest and config record (ggcr's validate package would need
// another module).
func checkImage(t *testing.T, img v1.Image) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := graph.FromBytes(cfg); string(got) != m.Config.Digest.String() || int64(len(cfg)) != m.Config.Size {
		t.Fatalf("config is %s, manifest says %s", got, m.Config.Digest)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		t.Fatalf("%d diff ids for %d layers", len(cf.RootFS.DiffIDs), len(m.Layers))
	}
	for i, ld := range m.Layers {
		l, err := img.LayerByDigest(ld.Digest)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		dg := graph.NewDigester()
		n, err := io.Copy(dg, rc)
		rc.Close()
		if err != nil || string(dg.Digest()) != ld.Digest.String() || n != ld.Size {
			t.Fatalf("layer %d: %s (%d bytes, %v), manifest says %s (%d)", i, dg.Digest(), n, err, ld.Digest, ld.Size)
		}
		urc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		dg = graph.NewDigester()
		_, err = io.Copy(dg, urc)
		urc.Close()
		if err != nil || string(dg.Digest()) != cf.RootFS.DiffIDs[i].String() {
			t.Fatalf("layer %d: diff id %s (%v), config says %s", i, dg.Digest(), err, cf.RootFS.DiffIDs[i])
		}
	}
}

// checkIndex checks the images of idx that are present.
func checkIndex(t *testing.T, idx v1.ImageIndex) {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			continue // partial index
		}
		if _, err := img.RawManifest(); err != nil {
			continue
		}
		checkImage(t, img)
	}
}

func importTarball(t *testing.T, s *cache.Store, imgs map[string]v1.Image) []cache.Image {
	t.Helper()
	refToImage := map[name.Reference]v1.Image{}
	for ref, img := range imgs {
		tag, err := name.NewTag(ref)
		if err != nil {
			t.Fatal(err)
		}
		refToImage[tag] = img
	}
	tarPath := filepath.Join(t.TempDir(), "save.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.MultiRefWrite(refToImage, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := s.Import(context.Background(), tarPath)
	if err != nil {
		t.Fatalf("Import(%s): %v", tarPath, err)
	}
	return got
}

func TestImportDockerTarballAndExport(t *testing.T) {
	s := newStore(t)
	img1, err := random.Image(2000, 3)
	if err != nil {
		t.Fatal(err)
	}
	img2, err := random.Image(1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := importTarball(t, s, map[string]v1.Image{"kit.test/one:v1": img1, "kit.test/two:v2": img2})
	if len(got) != 2 {
		t.Fatalf("Import returned %+v", got)
	}
	byRef := map[string]cache.Image{}
	for _, im := range got {
		byRef[im.Ref] = im
		if !s.Has(im.Digest) {
			t.Fatalf("manifest %s of %s not stored", im.Digest, im.Ref)
		}
	}
	for ref, img := range map[string]v1.Image{"kit.test/one:v1": img1, "kit.test/two:v2": img2} {
		im, ok := byRef[ref]
		if !ok {
			t.Fatalf("%s not imported: %+v", ref, got)
		}
		// The config (the image ID) is preserved, and every layer is present.
		cfg, _ := img.ConfigName()
		if !s.Has(graph.Digest(cfg.String())) {
			t.Errorf("%s: config %s missing", ref, cfg)
		}
		layers, _ := img.Layers()
		for _, l := range layers {
			d, _ := l.Digest()
			if !s.Has(graph.Digest(d.String())) {
				t.Errorf("%s: layer %s missing", ref, d)
			}
		}
		if im.MediaType == "" {
			t.Errorf("%s: no media type", ref)
		}
	}
	images, _ := s.Images()
	if len(images) != 2 {
		t.Fatalf("index.json after import: %+v", images)
	}

	// Export everything, then only one.
	all := filepath.Join(t.TempDir(), "all")
	if _, err := s.Export(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	refs := validateLayout(t, all)
	if len(refs) != 2 || refs["kit.test/one:v1"].String() != string(byRef["kit.test/one:v1"].Digest) {
		t.Fatalf("exported refs %v", refs)
	}
	one := filepath.Join(t.TempDir(), "one")
	exported, err := s.Export(context.Background(), one, "kit.test/two:v2")
	if err != nil || len(exported) != 1 {
		t.Fatalf("Export(two) = %+v, %v", exported, err)
	}
	if refs := validateLayout(t, one); len(refs) != 1 {
		t.Fatalf("exported refs %v", refs)
	}
	// Exporting again into the same layout replaces, not duplicates.
	if _, err := s.Export(context.Background(), one, "kit.test/two:v2", "kit.test/one:v1"); err != nil {
		t.Fatal(err)
	}
	if refs := validateLayout(t, one); len(refs) != 2 {
		t.Fatalf("exported refs after a second export %v", refs)
	}
	ii, _ := layout.ImageIndexFromPath(one)
	if im, _ := ii.IndexManifest(); len(im.Manifests) != 2 {
		t.Fatalf("index.json has %d entries, want 2", len(im.Manifests))
	}
	if _, err := s.Export(context.Background(), t.TempDir(), "kit.test/absent:1"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "kit.test/absent:1") {
		t.Fatalf("Export of an unknown ref: %v", err)
	}
}

func TestImportLayoutRoundTrip(t *testing.T) {
	src := newStore(t)
	img, err := random.Image(3000, 2)
	if err != nil {
		t.Fatal(err)
	}
	importTarball(t, src, map[string]v1.Image{"kit.test/rt:1": img})
	dir := filepath.Join(t.TempDir(), "layout")
	if _, err := src.Export(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	dst := newStore(t)
	got, err := dst.Import(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := src.Images()
	if len(got) != 1 || got[0] != want[0] {
		t.Fatalf("Import = %+v, want %+v", got, want)
	}
	if refs := validateLayout(t, dst.Dir()); len(refs) != 1 {
		t.Fatalf("imported store as a layout: %v", refs)
	}
}

func TestImportPartialIndex(t *testing.T) {
	idx, err := random.Index(500, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := layout.Write(dir, idx); err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	// Keep one platform: remove the other child manifests.
	for _, d := range im.Manifests[1:] {
		if err := os.Remove(filepath.Join(dir, "blobs", "sha256", d.Digest.Hex)); err != nil {
			t.Fatal(err)
		}
	}
	s := newStore(t)
	// random.Index's index.json lists the child manifests themselves;
	// record the index as a whole instead.
	idxDigest, _ := idx.Digest()
	raw, _ := idx.RawManifest()
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", idxDigest.Hex), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	top := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","size":` +
		itoa(len(raw)) + `,"digest":"` + idxDigest.String() + `","annotations":{"org.opencontainers.image.ref.name":"kit.test/multi:1"}}]}`
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(top), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := s.Import(context.Background(), dir)
	if err != nil {
		t.Fatalf("Import of a partial index: %v", err)
	}
	if len(got) != 1 || got[0].Ref != "kit.test/multi:1" || got[0].Digest != graph.Digest(idxDigest.String()) {
		t.Fatalf("Import = %+v", got)
	}
	if !s.Has(graph.Digest(im.Manifests[0].Digest.String())) || s.Has(graph.Digest(im.Manifests[1].Digest.String())) {
		t.Fatal("wrong children copied")
	}
	out := filepath.Join(t.TempDir(), "export")
	if _, err := s.Export(context.Background(), out); err != nil {
		t.Fatalf("Export of a partial index: %v", err)
	}
	if refs := validateLayout(t, out); refs["kit.test/multi:1"] != idxDigest {
		t.Fatalf("exported refs %v", refs)
	}
	// Prune keeps what the image refers to and is present.
	if _, err := s.Prune(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if !s.Has(graph.Digest(im.Manifests[0].Digest.String())) {
		t.Fatal("prune removed a blob of a recorded image")
	}
}

func itoa(n int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

func TestImportRefusesCorruptBlob(t *testing.T) {
	src := newStore(t)
	img, err := random.Image(1000, 2)
	if err != nil {
		t.Fatal(err)
	}
	importTarball(t, src, map[string]v1.Image{"kit.test/bad:1": img})
	dir := filepath.Join(t.TempDir(), "layout")
	if _, err := src.Export(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	d, _ := layers[1].Digest()
	lp := filepath.Join(dir, "blobs", "sha256", d.Hex)
	b, _ := os.ReadFile(lp)
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(lp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := newStore(t)
	_, err = dst.Import(context.Background(), dir)
	if !errors.Is(err, cache.ErrDigestMismatch) || !strings.Contains(err.Error(), d.String()) {
		t.Fatalf("Import of a corrupt layer: %v; want ErrDigestMismatch naming %s", err, d)
	}
	if dst.Has(graph.Digest(d.String())) {
		t.Fatal("corrupt layer stored")
	}
	if images, _ := dst.Images(); len(images) != 0 {
		t.Fatalf("image recorded despite a corrupt layer: %+v", images)
	}
}

func TestImportErrors(t *testing.T) {
	s := newStore(t)
	notTar := filepath.Join(t.TempDir(), "x.tar")
	os.WriteFile(notTar, []byte("hello"), 0o644)
	tests := []struct {
		name, path string
	}{
		{"missing path", filepath.Join(t.TempDir(), "absent")},
		{"dir without layout", t.TempDir()},
		{"not a tarball", notTar},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Import(context.Background(), tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("Import(%s) = %v; want an error naming the path", tt.path, err)
			}
		})
	}
}
