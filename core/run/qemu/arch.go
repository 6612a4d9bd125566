package qemu

import (
	"fmt"
	"sort"
	"strings"
)

// Firmware is a UEFI firmware pair: read-only code and the template of the
// variable store, which is copied for each VM.
type Firmware struct {
	Code, Vars string
}

// archInfo is how QEMU emulates one guest architecture.
type archInfo struct {
	goarch      string
	binary      string // QEMU system emulator
	pkg         string // Debian package holding binary
	machine     string
	tcgCPU      string // -cpu under TCG ("" for QEMU's default)
	console     string // the serial console's device name in the guest
	firmware    []Firmware
	firmwarePkg string // Debian package holding firmware
	// needsFirmware is set when the machine cannot boot a disk or ISO
	// without UEFI firmware.
	needsFirmware bool
	// cdrom returns the arguments that attach an ISO image.
	cdrom func(path string) []string
}

var arches = map[string]*archInfo{
	"amd64": {
		goarch:  "amd64",
		binary:  "qemu-system-x86_64",
		pkg:     "qemu-system-x86",
		machine: "q35",
		console: "ttyS0",
		firmware: []Firmware{
			{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"},
			{"/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"},
		},
		firmwarePkg: "ovmf",
		cdrom:       func(p string) []string { return []string{"-cdrom", p, "-boot", "order=d"} },
	},
	"arm64": {
		goarch:  "arm64",
		binary:  "qemu-system-aarch64",
		pkg:     "qemu-system-arm",
		machine: "virt,gic-version=max",
		tcgCPU:  "max",
		console: "ttyAMA0",
		firmware: []Firmware{
			{"/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"},
		},
		firmwarePkg:   "qemu-efi-aarch64",
		needsFirmware: true,
		// The virt machine has no IDE controller: attach the CD to virtio-scsi.
		cdrom: func(p string) []string {
			return []string{
				"-device", "virtio-scsi-pci,id=scsi0",
				"-drive", "if=none,id=cd0,media=cdrom,readonly=on,file=" + escapeOpt(p),
				"-device", "scsi-cd,bus=scsi0.0,drive=cd0",
			}
		},
	},
}

var archAliases = map[string]string{"x86_64": "amd64", "aarch64": "arm64"}

// lookupArch returns the emulation of arch (amd64, arm64, or the aliases
// x86_64, aarch64).
func lookupArch(arch string) (*archInfo, error) {
	if a, ok := archAliases[arch]; ok {
		arch = a
	}
	if ai, ok := arches[arch]; ok {
		return ai, nil
	}
	return nil, fmt.Errorf("architecture %q: want one of %s", arch, strings.Join(Arches(), ", "))
}

// Arches returns the guest architectures kit can boot, sorted.
func Arches() []string {
	var names []string
	for n := range arches {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// escapeOpt escapes a value for QEMU's comma-separated option syntax, in
// which a literal comma is written twice.
func escapeOpt(s string) string { return strings.ReplaceAll(s, ",", ",,") }
