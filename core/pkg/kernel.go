package pkg

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

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
//
// With Modules set, kernel.tar keeps only those modules (by name, "-" and
// "_" alike), the modules they depend on (the depends= field of each
// module's .modinfo, followed transitively), and the metadata files of
// lib/modules/VERSION (modules.builtin, modules.order, ...). A name that is
// neither a module file nor listed in modules.builtin is an error.
type KernelOp struct {
	Modules []string
	Epoch   int64
}

// Kind returns KindKernel.
func (KernelOp) Kind() string { return KindKernel }

// Version returns the implementation version.
func (KernelOp) Version() string { return "1" }

// Params returns the epoch.
func (o KernelOp) Params() ([]byte, error) {
	mods := o.Modules
	if mods == nil {
		mods = []string{}
	}
	return json.Marshal(struct {
		Modules []string `json:"modules"`
		Epoch   int64    `json:"sourceDateEpoch"`
	}{mods, o.Epoch})
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
	var keep map[string]bool // paths in the package tree; nil: everything
	if len(o.Modules) > 0 {
		if keep, err = o.selectModules(ctx, x, in.Digest); err != nil {
			return nil, fmt.Errorf("pkg-kernel: %w", err)
		}
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
		if keep != nil && !keep[h.Name] && !isModuleMeta(rest, h) {
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

// isModuleMeta reports whether rest ("/VERSION/name", relative to the
// modules root) is a file or symlink directly in a release's directory
// that is not a module (modules.builtin, modules.order, ...), or that
// directory itself.
func isModuleMeta(rest string, h *tar.Header) bool {
	parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	switch {
	case rest == "":
		return true
	case len(parts) == 1:
		return h.Typeflag == tar.TypeDir
	case len(parts) == 2:
		return h.Typeflag != tar.TypeDir && moduleName(parts[1]) == ""
	}
	return false
}

// moduleExts are the file name endings of kernel modules.
var moduleExts = []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

// moduleName returns the module name of a file name ("nf-nat.ko.xz" →
// "nf_nat"), or "" when it is not a module.
func moduleName(file string) string {
	base := path.Base(file)
	for _, ext := range moduleExts {
		if strings.HasSuffix(base, ext) {
			return strings.ReplaceAll(strings.TrimSuffix(base, ext), "-", "_")
		}
	}
	return ""
}

// selectModules reads the package tree once and returns the module files
// to keep with their parent directories.
func (o KernelOp) selectModules(ctx context.Context, x graph.Exec, d graph.Digest) (map[string]bool, error) {
	rc, err := x.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	type mod struct {
		path    string
		depends []string
	}
	mods := map[string]mod{}
	builtin := map[string]bool{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the package tree: %w", err)
		}
		if h.Typeflag != tar.TypeReg || !(strings.HasPrefix(h.Name, "lib/modules/") || strings.HasPrefix(h.Name, "usr/lib/modules/")) {
			continue
		}
		if path.Base(h.Name) == "modules.builtin" {
			b, err := io.ReadAll(io.LimitReader(tr, 16<<20))
			if err != nil {
				return nil, err
			}
			for _, line := range strings.Fields(string(b)) {
				builtin[moduleName(line)] = true
			}
			continue
		}
		name := moduleName(h.Name)
		if name == "" {
			continue
		}
		deps, err := modinfoDepends(h.Name, tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
		if _, dup := mods[name]; !dup {
			mods[name] = mod{h.Name, deps}
		}
	}
	keep := map[string]bool{}
	var visit func(name, from string) error
	visit = func(name, from string) error {
		m, ok := mods[name]
		if !ok {
			if builtin[name] {
				return nil
			}
			if from != "" {
				return fmt.Errorf("module %s (needed by %s) is not in the package", name, from)
			}
			return fmt.Errorf("module %s is neither in the package nor built in", name)
		}
		if keep[m.path] {
			return nil
		}
		keep[m.path] = true
		for p := tarutil.Parent(m.path); p != ""; p = tarutil.Parent(p) {
			keep[p] = true
		}
		for _, dep := range m.depends {
			if err := visit(dep, name); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range o.Modules {
		if err := visit(strings.ReplaceAll(n, "-", "_"), ""); err != nil {
			return nil, err
		}
	}
	return keep, nil
}

// modinfoDepends reads a module file and returns the modules named by the
// depends= field of its .modinfo section.
func modinfoDepends(name string, r io.Reader) ([]string, error) {
	switch {
	case strings.HasSuffix(name, ".xz"):
		zr, err := xz.NewReader(r)
		if err != nil {
			return nil, err
		}
		r = zr
	case strings.HasSuffix(name, ".zst"):
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(name, ".gz"):
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		r = zr
	}
	b, err := io.ReadAll(io.LimitReader(r, 256<<20))
	if err != nil {
		return nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not an ELF module: %w", err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil || sec.Type == elf.SHT_NOBITS {
		return nil, nil
	}
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	for _, field := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(field, []byte("depends=")); ok {
			var out []string
			for _, dep := range strings.Split(string(v), ",") {
				if dep = strings.TrimSpace(dep); dep != "" {
					out = append(out, strings.ReplaceAll(dep, "-", "_"))
				}
			}
			return out, nil
		}
	}
	return nil, nil
}
