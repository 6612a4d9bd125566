package imagegen

import (
	"bytes"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// MobyConfigLabel is the image label holding LinuxKit's per-image defaults.
const MobyConfigLabel = "org.mobyproject.config"

// Config is the configuration of a generated image.
type Config struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
	Labels     map[string]string
	// MobyConfig, when set, becomes the org.mobyproject.config label (a JSON
	// object of image-entry fields).
	MobyConfig string
	// Platform is "os/arch[/variant]"; default "linux/amd64".
	Platform string
	// OCI selects OCI media types (default: Docker schema 2).
	OCI bool
	// Zstd compresses layers with zstd (implies OCI media types).
	Zstd bool
	// Files, for Container, are added as a second layer.
	Files []File
}

func (c Config) platform() (v1.Platform, error) {
	s := c.Platform
	if s == "" {
		s = "linux/amd64"
	}
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return v1.Platform{}, fmt.Errorf("imagegen: platform %q: %w", s, err)
	}
	return *p, nil
}

// Layer returns a compressed layer holding a tar of files.
func Layer(oci, zstd bool, files ...File) (v1.Layer, error) {
	b, err := Tar(files...)
	if err != nil {
		return nil, err
	}
	return layerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, oci, zstd)
}

func layerFromOpener(open tarball.Opener, oci, zstd bool) (v1.Layer, error) {
	opts := []tarball.LayerOption{}
	switch {
	case zstd:
		opts = append(opts, tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
	case oci:
		opts = append(opts, tarball.WithMediaType(types.OCILayer))
	}
	l, err := tarball.LayerFromOpener(open, opts...)
	if err != nil {
		return nil, fmt.Errorf("imagegen: layer: %w", err)
	}
	return l, nil
}

// Image returns an image with one layer per element of layers and the given
// configuration.
func Image(cfg Config, layers ...[]File) (v1.Image, error) {
	ls := make([]v1.Layer, len(layers))
	for i, files := range layers {
		l, err := Layer(cfg.OCI || cfg.Zstd, cfg.Zstd, files...)
		if err != nil {
			return nil, err
		}
		ls[i] = l
	}
	return imageFromLayers(cfg, ls...)
}

func imageFromLayers(cfg Config, layers ...v1.Layer) (v1.Image, error) {
	p, err := cfg.platform()
	if err != nil {
		return nil, err
	}
	base := empty.Image
	if cfg.OCI || cfg.Zstd {
		base = mutate.MediaType(base, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	}
	adds := make([]mutate.Addendum, len(layers))
	for i, l := range layers {
		adds[i] = mutate.Addendum{Layer: l, History: v1.History{
			Created:   v1.Time{Time: Created},
			CreatedBy: fmt.Sprintf("imagegen layer %d", i),
		}}
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, fmt.Errorf("imagegen: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("imagegen: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: Created}
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	labels := map[string]string{}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	if cfg.MobyConfig != "" {
		labels[MobyConfigLabel] = cfg.MobyConfig
	}
	if len(labels) == 0 {
		labels = nil
	}
	cf.Config = v1.Config{
		Entrypoint: cfg.Entrypoint,
		Cmd:        cfg.Cmd,
		Env:        cfg.Env,
		WorkingDir: cfg.WorkingDir,
		User:       cfg.User,
		Labels:     labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("imagegen: %w", err)
	}
	return img, nil
}

// Container returns a small container image for name: a layer with
// bin/<name> (a shell script), etc/<name>.conf, etc/hostname and etc/hosts,
// then cfg.Files as a second layer when given.
func Container(name string, cfg Config) (v1.Image, error) {
	base := WithParents(
		Exec("bin/"+name, "#!/bin/sh\necho "+name+"\n"),
		Reg("etc/"+name+".conf", "name="+name+"\n"),
		Reg("etc/hostname", name+"\n"),
		Reg("etc/hosts", "10.0.0.1 "+name+"\n"),
	)
	layers := [][]File{base}
	if len(cfg.Files) > 0 {
		layers = append(layers, cfg.Files)
	}
	return Image(cfg, layers...)
}

// Init returns an init image: a single layer holding files (with their
// parent directories), or, when none are given, an executable /init and
// etc/<name>-release.
func Init(name string, files ...File) (v1.Image, error) {
	if len(files) == 0 {
		files = []File{
			Exec("init", "#!/bin/sh\n# "+name+" init\nexec /bin/sh\n"),
			Reg("etc/"+name+"-release", "NAME="+name+"\n"),
		}
	}
	return Image(Config{}, WithParents(files...))
}

// Index returns an OCI image index of images, each described with the
// platform of its config.
func Index(images ...v1.Image) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	adds := make([]mutate.IndexAddendum, len(images))
	for i, img := range images {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("imagegen: index: %w", err)
		}
		adds[i] = mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant},
		}}
	}
	return mutate.AppendManifests(idx, adds...), nil
}

// MultiArch returns an index of Container(name) for linux/amd64 and
// linux/arm64; each image also holds etc/arch naming its architecture.
func MultiArch(name string, cfg Config) (v1.ImageIndex, error) {
	var imgs []v1.Image
	for _, arch := range []string{"amd64", "arm64"} {
		c := cfg
		c.Platform = "linux/" + arch
		c.Files = append(append([]File(nil), cfg.Files...), Reg("etc/arch", arch+"\n"))
		img, err := Container(name, c)
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, img)
	}
	return Index(imgs...)
}

// DirMarker is the value Whiteouts uses for directories in its expected
// result.
const DirMarker = "<dir>"

// Whiteouts returns a three-layer image exercising OCI whiteouts and opaque
// directories, with the expected flattened file system: clean path →
// contents (DirMarker for directories).
//
//	layer 0: etc/a=a0 etc/b=b0 keep=k0 opt/x=x opt/sub/y=y
//	layer 1: etc/.wh.a, etc/b=b1, .wh.keep, opt/.wh..wh..opq, opt/z=z, new=n1
//	layer 2: etc/a=a2 (re-created after its whiteout)
func Whiteouts() (v1.Image, map[string]string, error) {
	l0 := WithParents(Reg("etc/a", "a0"), Reg("etc/b", "b0"), Reg("keep", "k0"), Reg("opt/x", "x"), Reg("opt/sub/y", "y"))
	l1 := []File{Dir("etc"), Whiteout("etc/a"), Reg("etc/b", "b1"), Whiteout("keep"), Dir("opt"), Opaque("opt"), Reg("opt/z", "z"), Reg("new", "n1")}
	l2 := []File{Dir("etc"), Reg("etc/a", "a2")}
	img, err := Image(Config{}, l0, l1, l2)
	if err != nil {
		return nil, nil, err
	}
	want := map[string]string{
		"etc":   DirMarker,
		"etc/a": "a2",
		"etc/b": "b1",
		"new":   "n1",
		"opt":   DirMarker,
		"opt/z": "z",
	}
	return img, want, nil
}

// Demo returns a set of images for a demo system, keyed by repository:tag
// relative to a registry (linuxkit/kernel:demo, linuxkit/init:demo,
// linuxkit/getty:demo (multi-arch, as an index), library/redis:demo).
func Demo() (map[string]v1.Image, map[string]v1.ImageIndex, error) {
	imgs := map[string]v1.Image{}
	k, err := Kernel(KernelOptions{UCode: true, SystemMap: true})
	if err != nil {
		return nil, nil, err
	}
	imgs["linuxkit/kernel:demo"] = k
	if imgs["linuxkit/init:demo"], err = Init("init"); err != nil {
		return nil, nil, err
	}
	if imgs["library/redis:demo"], err = Container("redis", Config{
		Entrypoint: []string{"/bin/redis"},
		Env:        []string{"PATH=/bin"},
		WorkingDir: "/data",
		MobyConfig: `{"capabilities":["CAP_NET_BIND_SERVICE"],"binds":["/var/lib/redis:/data"]}`,
	}); err != nil {
		return nil, nil, err
	}
	getty, err := MultiArch("getty", Config{Cmd: []string{"/bin/getty"}, MobyConfig: `{"pid":"host"}`})
	if err != nil {
		return nil, nil, err
	}
	return imgs, map[string]v1.ImageIndex{"linuxkit/getty:demo": getty}, nil
}
