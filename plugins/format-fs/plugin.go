package formatfs

import (
	"github.com/kitbuild/kit/sdk"
)

// Name is the plugin's name: its binary is kit-plugin-format-fs.
const Name = "format-fs"

// Version is the plugin's version.
const Version = "0.1.0"

// Media types of the outputs.
const (
	MediaTypeSquashfs = "application/vnd.squashfs"
	MediaTypeBinary   = "application/octet-stream"
	MediaTypeText     = "text/plain"
)

// Plugin returns the plugin with every format it serves.
func Plugin() sdk.Plugin {
	return sdk.Plugin{Name: Name, Version: Version, Formats: Formats()}
}

// Formats returns the formats the plugin serves.
func Formats() []sdk.Format { return []sdk.Format{KernelSquashfs{}, KernelErofs{}} }
