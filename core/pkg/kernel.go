package pkg

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// Names in the kernel-image layout, as LinuxKit's kernel images have them.
const (
	KernelBinary    = "kernel"
	KernelTar       = "kernel.tar"
	KernelSystemMap = "System.map"
)

// KernelOp is the "pkg-kernel" step: it turns the merged tree of a Debian
// kernel package (the LayerName output of a pkg-debs input) into the
// kernel-image layout: boot/vmlinuz-* as `kernel`, boot/System.map-* as
// `System.map`, and lib/modules (or usr/lib/modules) as `kernel.tar`, a
// normalized tar of lib/modules/VERSION/... Its output is a LayerName tar
// holding those three files.
type KernelOp struct {
	Epoch int64
}

// Kind returns KindKernel.
func (KernelOp) Kind() string { return KindKernel }

// Version returns the implementation version.
func (KernelOp) Version() string { return "1" }

// Params returns the epoch.
func (o KernelOp) Params() ([]byte, error) {
	return json.Marshal(struct {
		Epoch int64 `json:"sourceDateEpoch"`
	}{o.Epoch})
}

// Exec reads the package tree once, writing the modules tar and the two
// files to scratch files, then writes the layer.
func (o KernelOp) Exec(ctx context.Context, x graph.Exec, inputs []graph.Result) ([]graph.Output, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("pkg-kernel: want 1 input, got %d", len(inputs))
	}
	in, ok := inputs[0].Get(LayerName)
	if !ok {
		return nil, fmt.Errorf("pkg-kernel: input has no %s", LayerName)
	}
	tmp, err := x.TempDir()
	if err != nil {
		return nil, err
	}
	rc, err := x.Open(ctx, in.Digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	modPath := filepath.Join(tmp, KernelTar)
	mf, err := os.Create(modPath)
	if err != nil {
		return nil, err
	}
	defer mf.Close()
	mw := tarutil.NewWriter(mf, o.Epoch)
	if err := mw.WriteHeader(&tar.Header{Name: "lib", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		return nil, err
	}
	found := map[string]string{} // layout name → package path
	modRoot := ""
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("pkg-kernel: reading the package tree: %w", err)
		}
		var layout string
		switch {
		case strings.HasPrefix(h.Name, "boot/vmlinuz-") || strings.HasPrefix(h.Name, "boot/vmlinux-"):
			layout = KernelBinary
		case strings.HasPrefix(h.Name, "boot/System.map-"):
			layout = KernelSystemMap
		}
		if layout != "" && h.Typeflag == tar.TypeReg {
			if prev, ok := found[layout]; ok {
				return nil, fmt.Errorf("pkg-kernel: both %s and %s could be the %s; keep one kernel package", prev, h.Name, layout)
			}
			found[layout] = h.Name
			if err := copyToFile(filepath.Join(tmp, layout), tr); err != nil {
				return nil, fmt.Errorf("pkg-kernel: %s: %w", h.Name, err)
			}
			continue
		}
		var rest string
		for _, root := range []string{"lib/modules", "usr/lib/modules"} {
			if h.Name == root || strings.HasPrefix(h.Name, root+"/") {
				if modRoot != "" && modRoot != root {
					return nil, fmt.Errorf("pkg-kernel: modules under both %s and %s", modRoot, root)
				}
				modRoot, rest = root, strings.TrimPrefix(h.Name, root)
			}
		}
		if modRoot == "" || (rest == "" && h.Name != modRoot) {
			continue
		}
		if h.Name != modRoot+rest {
			continue
		}
		h.Name = "lib/modules" + rest
		if h.Typeflag == tar.TypeLink {
			if !strings.HasPrefix(h.Linkname, modRoot+"/") {
				return nil, fmt.Errorf("pkg-kernel: %s: hard link out of the modules tree", h.Name)
			}
			h.Linkname = "lib/modules" + strings.TrimPrefix(h.Linkname, modRoot)
		}
		if err := mw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("pkg-kernel: %s: %w", h.Name, err)
		}
		if _, err := io.Copy(mw, tr); err != nil {
			return nil, fmt.Errorf("pkg-kernel: %s: %w", h.Name, err)
		}
	}
	if _, ok := found[KernelBinary]; !ok {
		return nil, errors.New("pkg-kernel: the package has no boot/vmlinuz-*")
	}
	if modRoot == "" {
		return nil, errors.New("pkg-kernel: the package has no lib/modules")
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	if err := mf.Close(); err != nil {
		return nil, err
	}
	out, err := writeTar(ctx, x, LayerName, o.Epoch, func(tw *tarutil.Writer) error {
		for _, name := range []string{KernelSystemMap, KernelBinary, KernelTar} { // byte order
			p := filepath.Join(tmp, name)
			st, err := os.Stat(p)
			if errors.Is(err, os.ErrNotExist) && name == KernelSystemMap {
				continue
			}
			if err != nil {
				return err
			}
			if err := writeSpooled(tw, &spooled{hdr: &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: st.Size()}, spool: p}); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pkg-kernel: %w", err)
	}
	return []graph.Output{out}, nil
}

func copyToFile(path string, r io.Reader) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
