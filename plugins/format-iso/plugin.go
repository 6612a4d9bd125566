package formatiso

import (
	"fmt"
	"regexp"

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
