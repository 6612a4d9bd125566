package sdk

import (
	"context"
	"encoding/json"
	"log/slog"
)

// Kind is the kind of a plugin component.
type Kind string

// The kinds of components a plugin may serve. Only formats do work in
// protocol 1; uploaders and run backends can be described.
const (
	KindFormat Kind = "format"
	KindUpload Kind = "upload"
	KindRun    Kind = "run"
)

// Host inputs a format may name in FormatInfo.Needs. A need that is none of
// these names another format whose outputs the format derives from.
const (
	InputRootfs  = "rootfs.tar" // the assembled root filesystem, a normalized tar
	InputKernel  = "kernel"     // the kernel binary
	InputCmdline = "cmdline"    // a file holding the kernel command line
	InputUcode   = "ucode.cpio" // CPU microcode, a cpio archive
	InputInitrd  = "initrd.img" // the initramfs (gzip'd cpio) kit built from the rootfs
)

// Plugin is what a plugin binary serves: its name (the binary is
// kit-plugin-NAME), its version and its components.
type Plugin struct {
	Name    string
	Version string
	Formats []Format
	// Uploads and Runs are described to the host but do no work in
	// protocol 1.
	Uploads []Uploader
	Runs    []Runner
}

// Format is an output format: it turns the host's inputs into files.
type Format interface {
	// Info describes the format; it must return the same value every call.
	Info() FormatInfo
	// Build writes the format's outputs into req.ScratchDir and returns
	// them. The SDK computes digests and sizes and fills media types from
	// Info. Build must return when ctx is cancelled.
	Build(ctx context.Context, req *BuildRequest) ([]File, error)
}

// FormatInfo describes a format.
type FormatInfo struct {
	// Name is unique among the plugin's formats, e.g. "qcow2-efi"; it is
	// what a spec's output list names.
	Name string
	// Version of the format's implementation; changing it invalidates
	// every cached output of the format.
	Version string
	// Outputs are the files one build produces (at least one).
	Outputs []Output
	// Needs lists the inputs the format wants: Input* constants or the
	// Name of another format whose outputs it derives from.
	Needs []string
	// Images are OCI images the format needs (bootloaders, firmware).
	Images []Image
	// ConfigSchema is a JSON Schema for the format's config; nil means
	// the format takes no config.
	ConfigSchema json.RawMessage
}

// Output is one file a component produces.
type Output struct {
	// Suffix is appended to the artifact's base name: ".iso", "-kernel".
	Suffix string
	// MediaType of the file, e.g. "application/x-iso9660-image".
	MediaType string
}

// Image is an OCI image a component needs; the host fetches and unpacks it
// and passes it as a normalized rootfs tar under Name.
type Image struct {
	// Name the component knows the image by, e.g. "syslinux".
	Name string
	// Default reference, used when the spec names none.
	Default string
}

// Uploader is an upload component. Protocol 1 only describes it.
type Uploader interface {
	Info() UploadInfo
}

// UploadInfo describes an upload component.
type UploadInfo struct {
	Name         string
	Version      string
	Images       []Image
	ConfigSchema json.RawMessage
}

// Runner is a run backend. Protocol 1 only describes it.
type Runner interface {
	Info() RunInfo
}

// RunInfo describes a run backend.
type RunInfo struct {
	Name         string
	Version      string
	Images       []Image
	ConfigSchema json.RawMessage
}

// BuildRequest is what a format's Build gets.
type BuildRequest struct {
	// Inputs by the names in FormatInfo.Needs. A need naming another
	// format is passed as one input per output of that format, named
	// "FORMAT/SUFFIX" (e.g. "raw-efi/.img").
	Inputs map[string]Input
	// Images by the names in FormatInfo.Images; each path is a normalized
	// rootfs tar of the image (read entries with TarFile).
	Images map[string]Input
	// Config is the spec's config for the format, as JSON (nil if none);
	// the host validated it against ConfigSchema. Decode with DecodeConfig.
	Config json.RawMessage
	// SourceDateEpoch is the time every timestamp written derives from.
	SourceDateEpoch int64
	// ScratchDir is an empty directory created by the host; write only
	// there. The host removes it after the build.
	ScratchDir string
	// Arch is the target architecture, as GOARCH ("amd64", "arm64").
	Arch string
	// Log forwards structured logs to the host.
	Log *slog.Logger
}

// Input is a read-only file the host passes to a plugin.
type Input struct {
	// Path is absolute; the file must not be modified.
	Path string
	// Digest is "sha256:<hex>" of the file's content.
	Digest string
	// Ref is, for images, the reference the image was resolved from.
	Ref string
}

// File is one output of a Build.
type File struct {
	// Suffix is one of the format's declared output suffixes.
	Suffix string
	// Path of a regular file inside the request's ScratchDir.
	Path string
}

// Description is what a plugin says about itself (the Describe RPC).
type Description struct {
	Name    string
	Version string
	// Protocol is the protocol version the plugin speaks on this
	// connection.
	Protocol   int
	Components []Component
}

// Component describes one component of a plugin.
type Component struct {
	Kind         Kind
	Name         string
	Version      string
	ConfigSchema json.RawMessage // nil: takes no config
	Images       []Image
	// Outputs and Needs are set for formats only.
	Outputs []Output
	Needs   []string
}

// Component returns the component of the given kind and name.
func (d *Description) Component(kind Kind, name string) (Component, bool) {
	for _, c := range d.Components {
		if c.Kind == kind && c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}
