package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/internal/ctxio"
	"github.com/kitbuild/kit/core/steps/fetch"
)

// BinaryPrefix starts the file name of every plugin binary: kit-plugin-NAME.
const BinaryPrefix = "kit-plugin-"

// PathEnv names the environment variable listing plugin directories
// (colon-separated), searched first.
const PathEnv = "KIT_PLUGIN_PATH"

// Where a plugin directory comes from (Dir.Source).
const (
	SourceEnv    = "$" + PathEnv
	SourceBeside = "beside kit"
	SourceUser   = "user plugin dir"
)

// Dir is a directory searched for plugin binaries.
type Dir struct {
	Path   string
	Source string
}

// SearchPath returns the directories searched for plugins, in order: each
// entry of $KIT_PLUGIN_PATH, the directory of the running kit binary, and
// the user's plugin directory ($XDG_DATA_HOME/kit/plugins, by default
// ~/.local/share/kit/plugins). Empty entries and repeats are dropped.
func SearchPath() []Dir {
	var dirs []Dir
	seen := map[string]bool{}
	add := func(p, src string) {
		if p == "" {
			return
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		if seen[p] {
			return
		}
		seen[p] = true
		dirs = append(dirs, Dir{Path: p, Source: src})
	}
	for _, p := range filepath.SplitList(os.Getenv(PathEnv)) {
		add(p, SourceEnv)
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		add(filepath.Dir(exe), SourceBeside)
	}
	add(UserDir(), SourceUser)
	return dirs
}

// UserDir returns the user's plugin directory: $XDG_DATA_HOME/kit/plugins,
// or ~/.local/share/kit/plugins ("" when there is no home directory).
func UserDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "kit", "plugins")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "share", "kit", "plugins")
}

// Binary is a plugin binary found in the search path.
type Binary struct {
	// Name is the NAME of kit-plugin-NAME.
	Name string
	// Path is the binary's absolute path.
	Path string
	// Source says which part of the search path it was found in.
	Source string
	// Shadowed lists the paths of binaries of the same name found later in
	// the search path; they are never run.
	Shadowed []string
}

// Discover lists the plugin binaries in dirs: executable regular files (or
// symlinks to them) named kit-plugin-NAME with a valid NAME. The first
// binary found for a NAME wins; later ones are listed as shadowed. Missing
// directories are skipped; the result is sorted by name.
func Discover(dirs []Dir) ([]*Binary, error) {
	byName := map[string]*Binary{}
	var errs []error
	for _, d := range dirs {
		ents, err := os.ReadDir(d.Path)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
				errs = append(errs, fmt.Errorf("plugin directory %s (%s): %w", d.Path, d.Source, err))
			}
			continue
		}
		for _, e := range ents {
			name, ok := strings.CutPrefix(e.Name(), BinaryPrefix)
			if !ok || fetch.ValidPluginName(name) != nil {
				continue
			}
			p := filepath.Join(d.Path, e.Name())
			fi, err := os.Stat(p) // follows symlinks
			if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
				continue
			}
			if b, ok := byName[name]; ok {
				b.Shadowed = append(b.Shadowed, p)
				continue
			}
			byName[name] = &Binary{Name: name, Path: p, Source: d.Source}
		}
	}
	out := make([]*Binary, 0, len(byName))
	for _, b := range byName {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errors.Join(errs...)
}

// FileDigest returns the sha256 of the file at path.
func FileDigest(ctx context.Context, path string) (graph.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	d := graph.NewDigester()
	if _, err := io.Copy(d, ctxio.Reader(ctx, f)); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return d.Digest(), nil
}
