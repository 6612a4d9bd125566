package formatdisk

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/kitbuild/kit/plugins/internal/fmtutil"
	"github.com/kitbuild/kit/sdk"
)

// Derived is a format that rewrites the raw disk another format builds (its
// Source, raw-bios or raw-efi) into a container or an archive: it needs
// Source, so kit builds the raw disk once for every format derived from
// it, and streams the raw disk from kit's store into one output in the
// scratch directory.
type Derived struct {
	// Name and Version of the format.
	Name    string
	Version string
	// Source is the raw disk format whose output is read: RawBIOSName or
	// RawEFIName.
	Source string
	// Output is the format's one output.
	Output sdk.Output
	// ConfigSchema is the format's config schema (nil: none, and the SDK
	// refuses any config); Write decodes req.Config itself.
	ConfigSchema json.RawMessage
	// Write writes the raw disk of size bytes read from src to w. It must
	// stop with ctx's error when ctx is cancelled.
	Write func(ctx context.Context, w io.Writer, src io.ReaderAt, size int64, req *sdk.BuildRequest) error
}

var _ sdk.Format = Derived{}

// Info describes the format.
func (d Derived) Info() sdk.FormatInfo {
	return sdk.FormatInfo{
		Name:         d.Name,
		Version:      d.Version,
		Outputs:      []sdk.Output{d.Output},
		Needs:        []string{d.Source},
		ConfigSchema: d.ConfigSchema,
	}
}

// Build writes the output into the scratch directory.
func (d Derived) Build(ctx context.Context, req *sdk.BuildRequest) (_ []sdk.File, err error) {
	src, size, err := OpenRaw(req, d.Source)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	f, err := fmtutil.Create(req, "disk"+d.Output.Suffix)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("output: %w", cerr)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := d.Write(ctx, bw, src, size, req); err != nil {
		return nil, fmt.Errorf("%s from %s (%d bytes): %w", d.Name, src.Name(), size, err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	fmtutil.Logger(req).Info("disk written", "format", d.Name, "from", d.Source, "rawSize", size, "size", st.Size())
	return []sdk.File{{Suffix: d.Output.Suffix, Path: f.Name()}}, nil
}

// OpenRaw opens the raw disk that the format source (raw-bios or raw-efi)
// passed to a format needing it, and returns it with its size.
func OpenRaw(req *sdk.BuildRequest, source string) (*os.File, int64, error) {
	suffix, ok := RawSuffix(source)
	if !ok {
		return nil, 0, fmt.Errorf("%s is not a raw disk format", source)
	}
	name := InputName(source, suffix)
	path, err := fmtutil.Input(req, name)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("input %s: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("input %s: %w", name, err)
	}
	if !st.Mode().IsRegular() || st.Size() == 0 {
		f.Close()
		return nil, 0, fmt.Errorf("input %s: %s is not a non-empty regular file", name, path)
	}
	return f, st.Size(), nil
}
