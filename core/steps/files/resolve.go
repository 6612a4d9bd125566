package files

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/spec"
)

// ResolveOptions is what Resolve needs besides the entries.
type ResolveOptions struct {
	// Home replaces a leading "~/" of a source.
	Home string
	// BaseDir is the directory relative sources are relative to (that of
	// the spec file).
	BaseDir string
	// Metadata renders the merged, resolved spec as "yaml" or "json".
	Metadata func(format string) ([]byte, error)
	// IDs resolves a uid or gid name to its number. "root" and "" are 0
	// without asking.
	IDs func(name string) (uint32, error)
	// Sources, when set, locates entries in the spec files for messages.
	Sources *spec.SourceMap
}

// Resolve turns the files section of a spec into entries for Op:
// paths cleaned (a leading "/" dropped), modes parsed and defaulted (0600,
// 0700 for directories), ids made numeric, metadata rendered, and sources
// located (~/ expanded, relative paths taken from BaseDir) and hashed. An
// optional source that cannot be read is left out, as LinuxKit does. A
// source must be a regular file (or a symlink to one): LinuxKit reads a
// source with a single file read, so a directory is refused, not copied.
//
// Every bad entry is reported (errors.Join), each as a *spec.Error naming
// the entry ("files[2] (etc/motd)") at its location when opts.Sources has
// it.
func Resolve(entries []*spec.File, opts ResolveOptions) ([]Entry, error) {
	var out []Entry
	var errs []error
	for i, f := range entries {
		where := fmt.Sprintf("files[%d]", i)
		e, skip, err := resolveOne(f, where, opts)
		if err != nil {
			var se *spec.Error
			if !errors.As(err, &se) {
				se = &spec.Error{Pos: opts.Sources.Get(where), Msg: label(where, f), Err: err}
			}
			errs = append(errs, se)
			continue
		}
		if !skip {
			out = append(out, e)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// label is how an entry is named in messages.
func label(where string, f *spec.File) string {
	if f == nil || f.Path == "" {
		return where
	}
	return fmt.Sprintf("%s (%s)", where, f.Path)
}

// fieldError locates a problem with one field of an entry.
func fieldError(opts ResolveOptions, where, field string, f *spec.File, err error) error {
	pos := opts.Sources.Get(where + "." + field)
	if pos.File == "" {
		pos = opts.Sources.Get(where)
	}
	return &spec.Error{Pos: pos, Msg: label(where, f), Err: err}
}

func resolveOne(f *spec.File, where string, opts ResolveOptions) (Entry, bool, error) {
	if f == nil {
		return Entry{}, false, fmt.Errorf("%w: empty entry", ErrInvalid)
	}
	e := Entry{Origin: where}
	if p := opts.Sources.Get(where); p.String() != "" {
		e.Origin = p.String() + ": " + where
	}
	p := strings.TrimPrefix(f.Path, "/")
	if !cleanPath(p) {
		return e, false, fieldError(opts, where, "path", f,
			fmt.Errorf("%w: path %q must name a clean path inside the root", ErrInvalid, f.Path))
	}
	e.Path = p

	set := 0
	for _, b := range []bool{f.Directory, f.Symlink != nil, f.Contents != nil, f.Source != nil, f.Metadata != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		return e, false, fmt.Errorf("%w: exactly one of directory, symlink, contents, source and metadata must be set, not %d", ErrInvalid, set)
	}

	e.Mode = 0o600
	if f.Directory {
		e.Mode = 0o700
	}
	if f.Mode != nil {
		m, err := strconv.ParseUint(*f.Mode, 8, 32)
		if err != nil || m > 0o7777 {
			return e, false, fieldError(opts, where, "mode", f,
				fmt.Errorf("%w: mode %q is not an octal mode of at most 07777", ErrInvalid, *f.Mode))
		}
		e.Mode = uint32(m)
	}
	var err error
	if e.UID, err = resolveID(f.UID, opts); err != nil {
		return e, false, fieldError(opts, where, "uid", f, err)
	}
	if e.GID, err = resolveID(f.GID, opts); err != nil {
		return e, false, fieldError(opts, where, "gid", f, err)
	}

	switch {
	case f.Directory:
		e.Kind = KindDir
	case f.Symlink != nil:
		if *f.Symlink == "" {
			return e, false, fieldError(opts, where, "symlink", f, fmt.Errorf("%w: empty symlink target", ErrInvalid))
		}
		e.Kind, e.Target = KindSymlink, *f.Symlink
	case f.Contents != nil:
		e.Kind, e.Contents = KindFile, []byte(*f.Contents)
	case f.Metadata != nil:
		format := *f.Metadata
		if format != "yaml" && format != "json" {
			return e, false, fieldError(opts, where, "metadata", f,
				fmt.Errorf("%w: metadata format %q (want yaml or json)", ErrInvalid, format))
		}
		if opts.Metadata == nil {
			return e, false, fieldError(opts, where, "metadata", f, errors.New("no metadata renderer available"))
		}
		b, err := opts.Metadata(format)
		if err != nil {
			return e, false, fieldError(opts, where, "metadata", f, fmt.Errorf("rendering %s metadata: %w", format, err))
		}
		if b == nil {
			b = []byte{}
		}
		e.Kind, e.Contents = KindFile, b
	case f.Source != nil:
		src, err := sourcePath(*f.Source, baseDir(where, opts), opts)
		if err != nil {
			return e, false, fieldError(opts, where, "source", f, err)
		}
		fi, err := os.Stat(src)
		if err != nil {
			if f.Optional {
				return e, true, nil
			}
			return e, false, fieldError(opts, where, "source", f, err)
		}
		if !fi.Mode().IsRegular() {
			return e, false, fieldError(opts, where, "source", f,
				fmt.Errorf("%w: source %s is a %s, not a regular file", ErrInvalid, src, kindOf(fi)))
		}
		s, err := hashFile(src)
		if err != nil {
			return e, false, fieldError(opts, where, "source", f, err)
		}
		e.Kind, e.Source = KindFile, s
	}
	return e, false, nil
}

// baseDir is the directory relative sources of the entry at where are taken
// from: that of the spec file that declared it when the source map knows it
// (specs merged from several directories), else opts.BaseDir.
func baseDir(where string, opts ResolveOptions) string {
	if p := opts.Sources.Get(where); p.File != "" {
		return filepath.Dir(p.File)
	}
	return opts.BaseDir
}

// sourcePath expands "~/" and makes a relative source absolute.
func sourcePath(src, base string, opts ResolveOptions) (string, error) {
	if src == "" {
		return "", fmt.Errorf("%w: empty source", ErrInvalid)
	}
	if rest, ok := strings.CutPrefix(src, "~/"); ok {
		if opts.Home == "" {
			return "", fmt.Errorf("%w: source %q needs a home directory, and none is known", ErrInvalid, src)
		}
		src = filepath.Join(opts.Home, rest)
	}
	if !filepath.IsAbs(src) {
		src = filepath.Join(base, src)
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return "", fmt.Errorf("source %s: %w", src, err)
	}
	return abs, nil
}

// hashFile digests a host file.
func hashFile(name string) (*Source, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := graph.NewDigester()
	n, err := io.Copy(d, f)
	if err != nil {
		return nil, fmt.Errorf("reading source %s: %w", name, err)
	}
	return &Source{Path: name, Digest: d.Digest(), Size: n}, nil
}

// resolveID makes a uid or gid numeric.
func resolveID(v *spec.IDValue, opts ResolveOptions) (uint32, error) {
	switch {
	case v == nil:
		return 0, nil
	case v.Number != nil:
		return *v.Number, nil
	case v.Name == "" || v.Name == "root":
		return 0, nil
	case opts.IDs == nil:
		return 0, fmt.Errorf("%w: id name %q cannot be resolved here", ErrInvalid, v.Name)
	}
	n, err := opts.IDs(v.Name)
	if err != nil {
		return 0, fmt.Errorf("id %q: %w", v.Name, err)
	}
	return n, nil
}

// kindOf names the type of a non-regular file.
func kindOf(fi os.FileInfo) string {
	switch m := fi.Mode(); {
	case m.IsDir():
		return "directory"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
