package assemble

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/recipe"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

// Kind is the step kind of Op.
const Kind = "assemble"

// version is the implementation version of Op.
const version = "2"

// Output names and media types.
const (
	// RecipeName is the root filesystem as a recipe (see core/recipe):
	// the normalized tar described by ranges of its parts' blobs, which
	// are outputs of the step too, named SourcePrefix+N.
	RecipeName   = "rootfs.recipe"
	SourcePrefix = "source/"
	// RootfsName is the root filesystem as a normalized tar: what
	// MaterializeOp makes of the recipe.
	RootfsName    = "rootfs.tar"
	KernelName    = "kernel"
	CmdlineName   = "cmdline"
	UCodeName     = "ucode.cpio"
	TarMediaType  = tarutil.MediaType
	TextMediaType = "text/plain"
)

// Names of the outputs of the kernel step that the op reads.
const (
	kernelBinary = "kernel"
	kernelUCode  = "ucode.cpio"
)

// ErrInvalid is a malformed op: a bad path, mode, or input reference.
var ErrInvalid = errors.New("invalid assemble op")

// Op is the "assemble" step: it lays its inputs into one root filesystem,
// a normalized tar, and passes the kernel, command line and microcode on
// as outputs of their own.
//
// The parts are laid in order, later over earlier (see merge for the exact
// rules); Layout builds the parts of a LinuxKit system in LinuxKit's order.
// The boot files of Kernel come before every part.
type Op struct {
	// Kernel, when set, places boot/kernel, boot/cmdline and (with UCode)
	// boot/ucode.cpio, and makes the kernel, cmdline and ucode.cpio
	// outputs.
	Kernel *Kernel
	// Parts are laid into the root filesystem in order.
	Parts []Part
	// Concat lists paths whose regular files are concatenated, each
	// followed by two newlines, across the parts with Concat set that hold
	// them, when one of those parts wins the path and more than one holds
	// it. LinuxKit does so for lib/apk/db/installed across init images.
	Concat []string
	// SourceDateEpoch clamps every modification time.
	SourceDateEpoch int64
}

// Kernel says where the kernel comes from.
type Kernel struct {
	// Input is the index of the kernel step among the inputs; its
	// "kernel" output becomes boot/kernel.
	Input int `json:"input"`
	// Cmdline is the kernel command line, written to boot/cmdline.
	Cmdline string `json:"cmdline"`
	// UCode places the input's "ucode.cpio" at boot/ucode.cpio.
	UCode bool `json:"ucode"`
}

// Part is one thing laid into the root filesystem. It is exactly one of:
//   - a tar part: Output names a normalized tar output of the input, laid
//     under Prefix (hard-link targets too);
//   - a file part: Output names an output of the input placed as one
//     regular file at As, with Mode, UID and GID;
//   - a directory part: no Output; Dirs are created under Prefix.
type Part struct {
	// Name labels the part in messages and logs: "init[0]",
	// "onboot/000-dhcpcd", "services/redis", "volumes/data", "files".
	Name string `json:"name"`
	// Input is the index of the input among the op's inputs.
	Input int `json:"input"`
	// Output is the name of the input's output to lay in.
	Output string `json:"output,omitempty"`
	// Prefix is the directory a tar part or the Dirs go under; "" is /.
	Prefix string `json:"prefix,omitempty"`
	// As is the path of a file part.
	As string `json:"as,omitempty"`
	// Mode is the mode of a file part (default 0644).
	Mode uint32 `json:"mode,omitempty"`
	// UID and GID own a file part.
	UID uint32 `json:"uid,omitempty"`
	GID uint32 `json:"gid,omitempty"`
	// Dirs are empty directories (0755 root:root) created under Prefix.
	Dirs []string `json:"dirs,omitempty"`
	// Fill makes the part lose every path that any part without Fill
	// holds: it only fills gaps (the parent directories of file entries).
	Fill bool `json:"fill,omitempty"`
	// Concat takes part in the concatenation of Op.Concat paths.
	Concat bool `json:"concat,omitempty"`
}

func (p Part) isTar() bool  { return p.Output != "" && p.As == "" }
func (p Part) isFile() bool { return p.Output != "" && p.As != "" }

var _ graph.Op = Op{}

// Kind returns "assemble".
func (Op) Kind() string { return Kind }

// Version returns the implementation version.
func (Op) Version() string { return version }

type params struct {
	Kernel          *Kernel  `json:"kernel,omitempty"`
	Parts           []Part   `json:"parts"`
	Concat          []string `json:"concat,omitempty"`
	SourceDateEpoch int64    `json:"sourceDateEpoch"`
}

// canonical checks the op and returns it with defaults applied: part names
// filled in, file modes defaulted, fields a part kind does not use cleared.
func (o Op) canonical() (params, error) {
	p := params{Kernel: o.Kernel, Parts: make([]Part, len(o.Parts)), SourceDateEpoch: o.SourceDateEpoch}
	if o.Kernel != nil && o.Kernel.Input < 0 {
		return p, fmt.Errorf("%w: kernel input %d", ErrInvalid, o.Kernel.Input)
	}
	for i, part := range o.Parts {
		if part.Name == "" {
			part.Name = fmt.Sprintf("parts[%d]", i)
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: %s: %s", ErrInvalid, part.Name, fmt.Sprintf(format, args...))
		}
		if part.Prefix != "" && !cleanName(part.Prefix) {
			return p, bad("prefix %q is not a clean relative path", part.Prefix)
		}
		switch {
		case part.isFile():
			if !cleanName(part.As) {
				return p, bad("path %q is not a clean relative path", part.As)
			}
			if part.Prefix != "" || len(part.Dirs) > 0 {
				return p, bad("a file part has no prefix or dirs")
			}
			if part.Mode == 0 {
				part.Mode = 0o644
			}
			if part.Mode > 0o7777 {
				return p, bad("mode %#o has bits beyond 07777", part.Mode)
			}
		case part.isTar():
			if len(part.Dirs) > 0 || part.Mode != 0 || part.UID != 0 || part.GID != 0 {
				return p, bad("a tar part has no dirs, mode or owner")
			}
		default:
			if part.As != "" || part.Mode != 0 || part.UID != 0 || part.GID != 0 {
				return p, bad("a part without an output has no path, mode or owner")
			}
			if len(part.Dirs) == 0 {
				return p, bad("a part needs an output or dirs")
			}
			part.Input = 0
			for _, d := range part.Dirs {
				if !cleanName(d) {
					return p, bad("dir %q is not a clean relative path", d)
				}
			}
		}
		if part.Input < 0 {
			return p, bad("input %d", part.Input)
		}
		p.Parts[i] = part
	}
	for _, c := range o.Concat {
		if !cleanName(c) {
			return p, fmt.Errorf("%w: concat path %q is not a clean relative path", ErrInvalid, c)
		}
	}
	p.Concat = o.Concat
	return p, nil
}

// Params returns the canonical JSON of the op. A malformed op is reported
// here, when the plan is made.
func (o Op) Params() ([]byte, error) {
	p, err := o.canonical()
	if err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	return json.Marshal(p)
}

// Exec writes rootfs.recipe and, with a kernel, passes on kernel and
// ucode.cpio (the kernel step's blobs, not copied) and writes cmdline; the
// recipe's source blobs follow as source/0, source/1, ...
func (o Op) Exec(ctx context.Context, x graph.Exec, inputs []graph.Result) ([]graph.Output, error) {
	p, err := o.canonical()
	if err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	get := func(what string, input int, output string) (graph.Output, error) {
		if input < 0 || input >= len(inputs) {
			return graph.Output{}, fmt.Errorf("assemble: %s: %w: input %d of %d", what, ErrInvalid, input, len(inputs))
		}
		out, ok := inputs[input].Get(output)
		if !ok {
			return graph.Output{}, fmt.Errorf("assemble: %s: %w: input %d has no output %q", what, ErrInvalid, input, output)
		}
		return out, nil
	}
	epoch := p.SourceDateEpoch
	var total, done int64
	var ins []*input
	blob := func(out graph.Output) opener {
		return func() (io.ReadCloser, error) { return x.Open(ctx, out.Digest) }
	}
	file := func(name string, mode, uid, gid uint32, out graph.Output) listEntry {
		total += out.Size
		return listEntry{
			hdr: &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(mode), Uid: int(uid), Gid: int(gid),
				Size: out.Size, ModTime: time.Unix(epoch, 0)},
			open: blob(out),
			blob: &blobRange{digest: out.Digest, size: out.Size, n: out.Size},
		}
	}
	list := func(name string, tier int, entries []listEntry) *input {
		return &input{name: name, tier: tier, open: func(*int64) (stream, error) { return newList(entries) }}
	}

	var outputs []graph.Output
	if k := p.Kernel; k != nil {
		kernel, err := get("kernel", k.Input, kernelBinary)
		if err != nil {
			return nil, err
		}
		cmdline := []byte(k.Cmdline)
		entries := []listEntry{
			file("boot/kernel", 0o644, 0, 0, kernel),
			{hdr: &tar.Header{Typeflag: tar.TypeReg, Name: "boot/cmdline", Mode: 0o644, Size: int64(len(cmdline)),
				ModTime: time.Unix(epoch, 0)}, open: bytesOpener(cmdline)},
		}
		kernel.Name = KernelName
		outputs = append(outputs, kernel)
		cmd, err := writeBlob(ctx, x, CmdlineName, TextMediaType, cmdline)
		if err != nil {
			return nil, err
		}
		outputs = append(outputs, cmd)
		if k.UCode {
			ucode, err := get("kernel", k.Input, kernelUCode)
			if err != nil {
				return nil, err
			}
			entries = append(entries, file("boot/ucode.cpio", 0o644, 0, 0, ucode))
			ucode.Name = UCodeName
			outputs = append(outputs, ucode)
		}
		ins = append(ins, list("kernel", tierNormal, entries))
	}
	for _, part := range p.Parts {
		tier := tierNormal
		if part.Fill {
			tier = tierFill
		}
		var in *input
		switch {
		case part.isFile():
			out, err := get(part.Name, part.Input, part.Output)
			if err != nil {
				return nil, err
			}
			in = list(part.Name, tier, []listEntry{file(part.As, part.Mode, part.UID, part.GID, out)})
		case part.isTar():
			out, err := get(part.Name, part.Input, part.Output)
			if err != nil {
				return nil, err
			}
			total += out.Size
			prefix, d := part.Prefix, out.Digest
			whole := blobRange{digest: d, size: out.Size, n: out.Size}
			open := func() (*os.File, error) { return OpenFile(ctx, x, d) }
			in = &input{name: part.Name, tier: tier, prefix: prefix, open: func(progress *int64) (stream, error) {
				return openTar(open, whole, prefix, progress)
			}}
		default:
			entries := make([]listEntry, len(part.Dirs))
			for i, d := range part.Dirs {
				entries[i] = listEntry{hdr: dirHeader(join(part.Prefix, d), epoch)}
			}
			in = list(part.Name, tier, entries)
		}
		in.concat = part.Concat
		ins = append(ins, in)
	}

	concat := map[string]bool{}
	for _, c := range p.Concat {
		concat[c] = true
	}
	var reported int64
	var rb recipe.Builder
	opts := mergeOptions{
		epoch:    epoch,
		concat:   concat,
		logf:     x.Logf,
		progress: &done,
		tick: func() {
			if done-reported >= 4<<20 {
				reported = done
				x.Progress(done, total)
			}
		},
		recipe: &rb,
	}
	if err := merge(ctx, nil, ins, opts); err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	rootfs, err := writeBlob(ctx, x, RecipeName, recipe.MediaType, rb.Encode())
	if err != nil {
		return nil, err
	}
	x.Progress(total, total)
	// The blobs the recipe refers to are outputs too, so that the cache
	// keeps them as long as it keeps the step.
	outputs = append([]graph.Output{rootfs}, outputs...)
	for i, d := range rb.Sources() {
		size, _ := rb.SourceSize(d)
		outputs = append(outputs, graph.Output{Name: fmt.Sprintf("%s%d", SourcePrefix, i), Digest: d, Size: size, MediaType: "application/octet-stream"})
	}
	return outputs, nil
}

// OpenFile opens the blob d as a file: through Open, which does not wait
// for a blob the store is still making durable, when the store hands out
// files; else through its path.
func OpenFile(ctx context.Context, x graph.Exec, d graph.Digest) (*os.File, error) {
	rc, err := x.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	if f, ok := rc.(*os.File); ok {
		return f, nil
	}
	rc.Close()
	p, err := x.Path(d)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// writeBlob stores small contents as an output.
func writeBlob(ctx context.Context, x graph.Exec, name, mediaType string, b []byte) (graph.Output, error) {
	bw, err := x.Create(ctx)
	if err != nil {
		return graph.Output{}, fmt.Errorf("assemble: creating %s: %w", name, err)
	}
	defer bw.Close()
	if _, err := bw.Write(b); err != nil {
		return graph.Output{}, fmt.Errorf("assemble: writing %s: %w", name, err)
	}
	out, err := bw.Commit(name, mediaType, "")
	if err != nil {
		return graph.Output{}, fmt.Errorf("assemble: committing %s: %w", name, err)
	}
	return out, nil
}
