package formatiso

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/kitbuild/kit/sdk"
)

// Name is the plugin's name: its binary is kit-plugin-format-iso.
const Name = "format-iso"

// Version is the plugin's version.
const Version = "0.1.0"

// Media types of the outputs.
const (
	MediaTypeISO    = "application/x-iso9660-image"
	MediaTypeBinary = "application/octet-stream"
	MediaTypeText   = "text/plain"
)

// Plugin returns the plugin with every format it serves.
func Plugin() sdk.Plugin {
	return sdk.Plugin{Name: Name, Version: Version, Formats: Formats()}
}

// Formats returns the formats the plugin serves: iso-bios, iso-efi,
// iso-efi-initrd and kernel+iso.
func Formats() []sdk.Format {
	return []sdk.Format{BIOS{}, EFI{Initrd: false}, EFI{Initrd: true}, KernelISO{}}
}

// defaultVolumeID is the volume identifier of every ISO unless configured.
const defaultVolumeID = "KIT"

// volumeIDPattern is what ISO 9660 allows in a volume identifier (d-
// characters), at most 32 of them.
var volumeIDPattern = regexp.MustCompile(`^[A-Z0-9_]{1,32}$`)

const volumeIDSchema = `"volumeId": {
      "type": "string",
      "pattern": "^[A-Z0-9_]{1,32}$",
      "default": "KIT",
      "description": "ISO 9660 volume identifier: 1 to 32 characters of A-Z, 0-9 and _ (what blkid shows as LABEL)."
    }`

// checkVolumeID refuses what the schema refuses, for callers that bypass
// kit's validation.
func checkVolumeID(id string) error {
	if !volumeIDPattern.MatchString(id) {
		return fmt.Errorf("config: volumeId %q: want 1 to 32 characters of A-Z, 0-9 and _", id)
	}
	return nil
}

// checkArch refuses targets whose bootloaders the format does not have.
func checkArch(format, arch, loader string) error {
	if arch != "" && arch != "amd64" {
		return fmt.Errorf("%s: arch %s is not supported: %s boots amd64 (x86-64) systems only", format, arch, loader)
	}
	return nil
}

// input returns the path of a required input.
func input(req *sdk.BuildRequest, name string) (string, error) {
	in, ok := req.Inputs[name]
	if !ok || in.Path == "" {
		return "", fmt.Errorf("input %s is missing (does the spec have a kernel?)", name)
	}
	return in.Path, nil
}

// maxCmdline bounds the command line read into memory.
const maxCmdline = 64 << 10

// cmdline returns the kernel command line (one line; "" when the host
// passed none).
func cmdline(req *sdk.BuildRequest) (string, error) {
	in, ok := req.Inputs[sdk.InputCmdline]
	if !ok || in.Path == "" {
		return "", nil
	}
	f, err := os.Open(in.Path)
	if err != nil {
		return "", fmt.Errorf("input %s: %w", sdk.InputCmdline, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCmdline+1))
	if err != nil {
		return "", fmt.Errorf("input %s: %w", sdk.InputCmdline, err)
	}
	if len(b) > maxCmdline {
		return "", fmt.Errorf("input %s: longer than %d bytes", sdk.InputCmdline, maxCmdline)
	}
	if strings.ContainsRune(string(b), 0) {
		return "", fmt.Errorf("input %s: holds a NUL byte", sdk.InputCmdline)
	}
	return strings.Join(strings.Fields(string(b)), " "), nil
}

// create creates the output file name in the scratch directory.
func create(req *sdk.BuildRequest, name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(req.ScratchDir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	return f, nil
}

// closeOnError closes f and removes it when *err is set.
func closeOnError(f *os.File, err *error) {
	if *err != nil {
		f.Close()
		os.Remove(f.Name())
	}
}

// copyInput copies the input file src to the scratch file name.
func copyInput(ctx context.Context, req *sdk.BuildRequest, src, name string) (out string, err error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	f, err := create(req, name)
	if err != nil {
		return "", err
	}
	defer closeOnError(f, &err)
	if _, err = io.Copy(f, ctxReader{ctx, in}); err != nil {
		return "", fmt.Errorf("copying %s: %w", src, err)
	}
	return f.Name(), f.Close()
}

// ctxReader stops reading when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
