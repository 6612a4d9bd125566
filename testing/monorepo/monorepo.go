package monorepo

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kitbuild/kit/testing/imagegen"
)

// Registry is the registry the specs name. Mirror it to the loopback
// registry serving Images: --mirror mono.kit.test=http://127.0.0.1:PORT.
const Registry = "mono.kit.test"

// The base images, by repository:tag under Registry.
const (
	Kernel = "mono/kernel:1"
	Init   = "mono/init:1"
	Base   = "mono/base:1"
)

// Systems are the names of the monorepo's systems.
var Systems = []string{"api", "auth", "cache", "db", "edge", "gateway", "logs", "metrics", "queue", "search", "web", "worker"}

// Users maps each package to the systems that use it.
var Users = map[string][]string{
	"tools": {"api", "auth", "cache", "db", "edge", "gateway"},
	"motd":  {"db", "edge", "gateway", "logs", "metrics", "queue"},
}

// Options shape the base images.
type Options struct {
	// BaseMB adds that many MiB of semi-compressible data to the base
	// image (a second layer), for benchmarks; 0 keeps the images tiny.
	BaseMB int
	// KernelSize is the size of the kernel binary (default 64 KiB).
	KernelSize int
}

// Images returns the three base images by repository:tag (Kernel, Init,
// Base). The same options always give the same digests.
func Images(o Options) (map[string]v1.Image, error) {
	k, err := imagegen.Kernel(imagegen.KernelOptions{Size: o.KernelSize})
	if err != nil {
		return nil, fmt.Errorf("monorepo: kernel: %w", err)
	}
	in, err := imagegen.Init("init",
		imagegen.Exec("init", "#!/bin/sh\nexec /sbin/init\n"),
		imagegen.Exec("sbin/init", "#!/bin/sh\necho init\n"),
		imagegen.Reg("etc/os-release", "NAME=mono\n"),
	)
	if err != nil {
		return nil, fmt.Errorf("monorepo: init: %w", err)
	}
	base, err := imagegen.Container("base", imagegen.Config{
		Entrypoint: []string{"/bin/app"},
		Env:        []string{"PATH=/bin:/usr/bin"},
		MobyConfig: `{"capabilities":["CAP_NET_BIND_SERVICE"],"net":"host"}`,
		Files:      []imagegen.File{imagegen.Exec("bin/app", "#!/bin/sh\necho app \"$@\"\n")},
	})
	if err != nil {
		return nil, fmt.Errorf("monorepo: base: %w", err)
	}
	if o.BaseMB > 0 {
		big, err := imagegen.Big(imagegen.BigOptions{MB: o.BaseMB, Semi: true, Seed: 7})
		if err != nil {
			return nil, fmt.Errorf("monorepo: base data: %w", err)
		}
		ls, err := big.Layers()
		if err != nil {
			return nil, err
		}
		if base, err = mutate.AppendLayers(base, ls...); err != nil {
			return nil, fmt.Errorf("monorepo: base data: %w", err)
		}
	}
	return map[string]v1.Image{Kernel: k, Init: in, Base: base}, nil
}

// Dir returns the monorepo's directory (this package's source directory).
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// CopyTo copies the monorepo's files (kit.work.hcl, systems/, packages/)
// into dir, which is created.
func CopyTo(dir string) error {
	src := Dir()
	for _, top := range []string{"kit.work.hcl", "systems", "packages"} {
		err := filepath.WalkDir(filepath.Join(src, top), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			r, err := filepath.Rel(src, p)
			if err != nil {
				return err
			}
			dst := filepath.Join(dir, r)
			if d.IsDir() {
				return os.MkdirAll(dst, 0o755)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			return os.WriteFile(dst, b, 0o644)
		})
		if err != nil {
			return fmt.Errorf("monorepo: copy %s: %w", top, err)
		}
	}
	return nil
}
