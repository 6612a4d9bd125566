package pkg

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// FilesOp is the "pkg-files" step: the files section as a normalized tar
// (output LayerName). Sources are read from Dir and enter the key by
// content (SHA256).
type FilesOp struct {
	Entries []FileEntry
	Epoch   int64
	// Dir is the package directory (not part of the key).
	Dir string
}

// FileEntry is a resolved files entry.
type FileEntry struct {
	Kind FileKind `json:"kind"`
	// Path is the clean path without the leading slash.
	Path     string `json:"path"`
	Src      string `json:"src,omitempty"`
	Contents string `json:"contents,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Size     int64  `json:"size"`
	Target   string `json:"target,omitempty"`
	Mode     uint32 `json:"mode"`
	UID      uint32 `json:"uid"`
	GID      uint32 `json:"gid"`
}

// Kind returns KindFiles.
func (FilesOp) Kind() string { return KindFiles }

// Version returns the implementation version.
func (FilesOp) Version() string { return "1" }

// Params returns the entries (sources by name and digest).
func (o FilesOp) Params() ([]byte, error) {
	return json.Marshal(struct {
		Entries []FileEntry `json:"entries"`
		Epoch   int64       `json:"sourceDateEpoch"`
	}{o.Entries, o.Epoch})
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// resolveFiles turns the files section into entries, hashing sources.
func resolveFiles(dir string, files []File) ([]FileEntry, error) {
	var out []FileEntry
	for _, f := range files {
		e := FileEntry{Kind: f.Kind, Path: strings.TrimPrefix(f.Dest, "/"), UID: f.UID, GID: f.GID}
		switch f.Kind {
		case FileRegular:
			e.Mode = 0o644
			if f.Contents != nil {
				e.Contents = *f.Contents
				e.Size = int64(len(e.Contents))
			} else {
				p := filepath.Join(dir, filepath.FromSlash(f.Src))
				st, err := os.Stat(p)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", f.Pos, err)
				}
				if !st.Mode().IsRegular() {
					return nil, fmt.Errorf("%s: src %s is not a regular file (list a directory's files one by one)", f.Pos, f.Src)
				}
				if st.Mode()&0o111 != 0 {
					e.Mode = 0o755
				}
				e.Src = filepath.ToSlash(filepath.Clean(f.Src))
				if e.SHA256, e.Size, err = hashFile(p); err != nil {
					return nil, fmt.Errorf("%s: %w", f.Pos, err)
				}
			}
		case FileDir:
			e.Mode = 0o755
		case FileSymlink:
			e.Mode = 0o777
			e.Target = f.Target
		}
		if f.Mode != nil && f.Kind != FileSymlink {
			e.Mode = *f.Mode
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Exec writes the layer; a source must still have the digest it had when
// the plan was made.
func (o FilesOp) Exec(ctx context.Context, x graph.Exec, _ []graph.Result) ([]graph.Output, error) {
	have := map[string]bool{}
	var names []string
	byName := map[string]FileEntry{}
	for _, e := range o.Entries {
		have[e.Path] = true
		names = append(names, e.Path)
		byName[e.Path] = e
	}
	parents := map[string]*tar.Header{}
	for _, p := range parentDirs(have, names) {
		parents[p.Name] = p
		names = append(names, p.Name)
	}
	sort.Strings(names)
	out, err := writeTar(ctx, x, LayerName, o.Epoch, func(tw *tarutil.Writer) error {
		for _, n := range names {
			if p, ok := parents[n]; ok {
				if err := tw.WriteHeader(p); err != nil {
					return err
				}
				continue
			}
			e := byName[n]
			h := &tar.Header{Name: e.Path, Mode: int64(e.Mode), Uid: int(e.UID), Gid: int(e.GID)}
			switch e.Kind {
			case FileDir:
				h.Typeflag = tar.TypeDir
			case FileSymlink:
				h.Typeflag, h.Linkname = tar.TypeSymlink, e.Target
			default:
				h.Typeflag, h.Size = tar.TypeReg, e.Size
			}
			if err := tw.WriteHeader(h); err != nil {
				return fmt.Errorf("/%s: %w", e.Path, err)
			}
			if e.Kind != FileRegular {
				continue
			}
			if e.Src == "" {
				if _, err := io.WriteString(tw, e.Contents); err != nil {
					return err
				}
				continue
			}
			if err := copySource(tw, filepath.Join(o.Dir, filepath.FromSlash(e.Src)), e); err != nil {
				return fmt.Errorf("/%s: %w", e.Path, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("files layer: %w", err)
	}
	return []graph.Output{out}, nil
}

func copySource(w io.Writer, p string, e FileEntry) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(f, e.Size))
	if err != nil {
		return err
	}
	if n != e.Size || hex.EncodeToString(h.Sum(nil)) != e.SHA256 {
		return fmt.Errorf("source %s changed while the build ran; build again", e.Src)
	}
	return nil
}
