//go:build linux

package initsys

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// moduleExts are the file name endings of kernel modules; the kernel
// decompresses the compressed ones itself (finit_module with
// MODULE_INIT_COMPRESSED_FILE, Linux 5.17+).
var moduleExts = []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

// moduleName normalizes a module name or file name: "nf-nat.ko.xz" →
// "nf_nat".
func moduleName(s string) string {
	s = filepath.Base(s)
	for _, ext := range moduleExts {
		if strings.HasSuffix(s, ext) {
			s = strings.TrimSuffix(s, ext)
			break
		}
	}
	return strings.ReplaceAll(s, "-", "_")
}

// ModInfoDepends returns the "depends=" modules named in the .modinfo
// section of an uncompressed module; nil for a file that is not ELF or has
// no such section.
func ModInfoDepends(b []byte) []string {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil || sec.Type == elf.SHT_NOBITS {
		return nil
	}
	data, err := sec.Data()
	if err != nil {
		return nil
	}
	for _, field := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(field, []byte("depends=")); ok {
			var out []string
			for _, d := range strings.Split(string(v), ",") {
				if d = strings.TrimSpace(d); d != "" {
					out = append(out, moduleName(d))
				}
			}
			return out
		}
	}
	return nil
}

// modules indexes the modules of one kernel release.
type modules struct {
	dir     string
	files   map[string]string // name → path
	builtin map[string]bool
}

// indexModules walks dir (/lib/modules/RELEASE) for module files and
// reads modules.builtin. modules.dep is not needed (a package unpacked
// without its maintainer scripts has none): dependencies come from each
// module's .modinfo.
func indexModules(dir string) (*modules, error) {
	m := &modules{dir: dir, files: map[string]string{}, builtin: map[string]bool{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			for _, ext := range moduleExts {
				if strings.HasSuffix(p, ext) {
					if _, dup := m.files[moduleName(p)]; !dup {
						m.files[moduleName(p)] = p
					}
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				m.builtin[moduleName(l)] = true
			}
		}
	}
	return m, nil
}

// LoadModules loads kernel modules by name with their dependencies from
// /lib/modules/RELEASE under the root, skipping built-in and loaded ones
// (/sys/module/NAME). Each failure is reported; the error joins them.
func (in *Init) LoadModules(names []string) error {
	if len(names) == 0 {
		return nil
	}
	release, err := in.sys.KernelRelease()
	if err != nil {
		in.Logf("modules: %v", err)
		return err
	}
	idx, err := indexModules(in.host("/lib/modules/" + release))
	if err != nil {
		err = fmt.Errorf("modules of kernel %s: %w", release, err)
		in.Logf("%v", err)
		return err
	}
	var errs []error
	loading := map[string]bool{}
	var load func(name string, depth int) error
	load = func(name string, depth int) error {
		name = moduleName(name)
		if idx.builtin[name] || loading[name] {
			return nil
		}
		loading[name] = true
		if _, err := os.Stat(in.host("/sys/module/" + name)); err == nil {
			return nil
		}
		path, ok := idx.files[name]
		if !ok {
			return fmt.Errorf("module %s: not found in %s", name, idx.dir)
		}
		if depth > 32 {
			return fmt.Errorf("module %s: dependencies too deep", name)
		}
		if strings.HasSuffix(path, ".ko") {
			if b, err := os.ReadFile(path); err == nil {
				for _, dep := range ModInfoDepends(b) {
					if err := load(dep, depth+1); err != nil {
						return fmt.Errorf("module %s: %w", name, err)
					}
				}
			}
		}
		if err := in.sys.InitModule(path, !strings.HasSuffix(path, ".ko")); err != nil {
			return fmt.Errorf("module %s: %w", name, err)
		}
		in.Logf("module %s loaded", name)
		return nil
	}
	for _, n := range names {
		if err := load(n, 0); err != nil {
			in.Logf("%v", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// wantedModules are the modules to load at boot: overlay when the kernel
// does not know the file system yet (writable containers need it), then
// those of kit.modules=a,b on the command line.
func (in *Init) wantedModules(cmdline map[string]string) []string {
	var out []string
	if b, err := os.ReadFile(in.host("/proc/filesystems")); err == nil && !bytes.Contains(b, []byte("\toverlay\n")) {
		out = append(out, "overlay")
	}
	for _, m := range strings.Split(cmdline[CmdlineModules], ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}
