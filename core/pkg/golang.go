package pkg

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// GoOp is the "pkg-go" step: it builds Go main packages of a module
// ko-style (CGO_ENABLED=0, -trimpath, no VCS stamping, no build ID, and
// stripped: -ldflags="-s -w -buildid=")
// for linux/GOARCH and writes them, mode 0755, into a normalized tar
// (output LayerName). The sources enter the key through SourceHash.
type GoOp struct {
	Binaries []GoBuild
	GOARCH   string
	// GoVersion is `go env GOVERSION` of the toolchain used.
	GoVersion string
	Epoch     int64
	// ModuleDir is where the go command runs (not part of the key: the
	// sources are, through SourceHash).
	ModuleDir string
}

// GoBuild is one binary of a GoOp.
type GoBuild struct {
	Main string `json:"main"`
	// Dest is the clean path in the image, without the leading slash.
	Dest string `json:"dest"`
	// SourceHash digests every file the build reads (see GoSourceHash).
	SourceHash string `json:"sourceHash"`
}

// Kind returns KindGo.
func (GoOp) Kind() string { return KindGo }

// Version returns the implementation version.
func (GoOp) Version() string { return "2" }

// Params returns the binaries with their source hashes, the architecture
// and the toolchain version.
func (o GoOp) Params() ([]byte, error) {
	return json.Marshal(struct {
		Binaries  []GoBuild `json:"binaries"`
		GOARCH    string    `json:"goarch"`
		GoVersion string    `json:"goVersion"`
		Epoch     int64     `json:"sourceDateEpoch"`
	}{o.Binaries, o.GOARCH, o.GoVersion, o.Epoch})
}

// goEnv is the fixed build environment.
func goEnv(goarch string) []string {
	env := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + goarch, "GOFLAGS=-mod=readonly", "GOAMD64=v1", "GOARM64=v8.0", "GOEXPERIMENT=", "GOTOOLCHAIN=local", "GOWORK=off"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "CGO_ENABLED", "GOOS", "GOARCH", "GOFLAGS", "GOAMD64", "GOARM64", "GOEXPERIMENT", "GOTOOLCHAIN", "GOWORK":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func goCmd(ctx context.Context, dir, goarch string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = goEnv(goarch)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("go %s: the Go toolchain is needed to build Go binaries: %w", args[0], err)
		}
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// GoVersion returns the version of the go command on PATH.
func GoVersion(ctx context.Context, dir string) (string, error) {
	out, err := goCmd(ctx, dir, "amd64", "env", "GOVERSION")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// ModuleRoot returns the directory of the nearest go.mod at or above dir.
func ModuleRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s is not inside a Go module (no go.mod above it)", dir)
		}
	}
}

// GoSourceHash digests what building main in moduleDir for linux/goarch
// reads: go.mod and go.sum, the files (by path relative to the module and
// content) of every package of the main module (or a local replacement) in
// its dependency graph, and the path@version of every other module.
func GoSourceHash(ctx context.Context, moduleDir, main, goarch string) (string, error) {
	out, err := goCmd(ctx, moduleDir, goarch, "list", "-deps", "-json=ImportPath,Dir,Standard,GoFiles,SFiles,EmbedFiles,Module", main)
	if err != nil {
		return "", err
	}
	type module struct {
		Path, Version, Dir string
		Main               bool
		Replace            *struct{ Path, Version, Dir string }
	}
	type listed struct {
		ImportPath, Dir             string
		Standard                    bool
		GoFiles, SFiles, EmbedFiles []string
		Module                      *module
	}
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s\n", len(s), s) }
	fileHash := func(p string) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fh := sha256.New()
		if _, err := io.Copy(fh, f); err != nil {
			return err
		}
		field(hex.EncodeToString(fh.Sum(nil)))
		return nil
	}
	for _, name := range []string{"go.mod", "go.sum"} {
		field(name)
		if err := fileHash(filepath.Join(moduleDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	var entries []string
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("go list %s: %w", main, err)
		}
		if p.Standard {
			continue
		}
		m := p.Module
		local := m == nil || m.Main || (m.Replace != nil && m.Replace.Version == "")
		if !local {
			v := m.Path + "@" + m.Version
			if m.Replace != nil {
				v += "=>" + m.Replace.Path + "@" + m.Replace.Version
			}
			entries = append(entries, "module "+v)
			continue
		}
		rel, err := filepath.Rel(moduleDir, p.Dir)
		if err != nil {
			return "", err
		}
		files := append(append(append([]string{}, p.GoFiles...), p.SFiles...), p.EmbedFiles...)
		for _, f := range files {
			entries = append(entries, "file "+path.Join(filepath.ToSlash(rel), f)+"\x00"+filepath.Join(p.Dir, f))
		}
	}
	sort.Strings(entries)
	for _, e := range entries {
		name, file, isFile := strings.Cut(e, "\x00")
		field(name)
		if isFile {
			if err := fileHash(file); err != nil {
				return "", fmt.Errorf("go sources of %s: %w", main, err)
			}
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// Exec builds every binary and writes the layer.
func (o GoOp) Exec(ctx context.Context, x graph.Exec, _ []graph.Result) ([]graph.Output, error) {
	tmp, err := x.TempDir()
	if err != nil {
		return nil, err
	}
	type built struct {
		dest, file string
		size       int64
	}
	var bins []built
	for i, b := range o.Binaries {
		// the sources must still be those the key was computed from
		h, err := GoSourceHash(ctx, o.ModuleDir, b.Main, o.GOARCH)
		if err != nil {
			return nil, err
		}
		if h != b.SourceHash {
			return nil, fmt.Errorf("go binary %s: the sources changed while the build ran; build again", b.Main)
		}
		out := filepath.Join(tmp, fmt.Sprintf("bin%d", i))
		x.Logf("go build %s", b.Main)
		if _, err := goCmd(ctx, o.ModuleDir, o.GOARCH, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, b.Main); err != nil {
			return nil, fmt.Errorf("go binary %s: %w", b.Main, err)
		}
		st, err := os.Stat(out)
		if err != nil {
			return nil, err
		}
		bins = append(bins, built{dest: b.Dest, file: out, size: st.Size()})
	}
	sort.Slice(bins, func(i, j int) bool { return bins[i].dest < bins[j].dest })
	have := map[string]bool{}
	var names []string
	for _, b := range bins {
		have[b.dest] = true
		names = append(names, b.dest)
	}
	entries := map[string]*spooled{}
	for _, b := range bins {
		entries[b.dest] = &spooled{hdr: &tar.Header{Name: b.dest, Typeflag: tar.TypeReg, Mode: 0o755, Size: b.size}, spool: b.file}
	}
	for _, p := range parentDirs(have, names) {
		entries[p.Name] = &spooled{hdr: p}
		names = append(names, p.Name)
	}
	sort.Strings(names)
	out, err := writeTar(ctx, x, LayerName, o.Epoch, func(tw *tarutil.Writer) error {
		for _, n := range names {
			if err := writeSpooled(tw, entries[n]); err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("go layer: %w", err)
	}
	return []graph.Output{out}, nil
}
