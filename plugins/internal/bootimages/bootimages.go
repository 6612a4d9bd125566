package bootimages

import "sort"

// Where the project publishes its bootloader images: Repository/NAME:TAG.
// A package's pkg.yml names its image Namespace/NAME (kitbuild/syslinux), so
// `kit pkg build --registry HOST` pushes HOST/kitbuild/NAME:TAG, which a
// build reaches in place of ghcr.io with `--mirror ghcr.io=http://HOST`.
const (
	Registry   = "ghcr.io"
	Namespace  = "kitbuild"
	Repository = Registry + "/" + Namespace
)

// Names of the bootloader packages (directories of plugins/packages).
const (
	// Syslinux holds Debian's isolinux, syslinux and syslinux-common:
	// ISOLINUX for BIOS ISOs, SYSLINUX for BIOS disks.
	Syslinux = "syslinux"
	// SystemdBoot holds Debian's systemd-boot-efi: the UEFI boot loader of
	// the EFI ISOs and disks.
	SystemdBoot = "systemd-boot"
	// RPiFirmware holds the Raspberry Pi boot firmware (arm64 boards).
	RPiFirmware = "rpi-firmware"
)

// archs is the architecture each package is built (and tagged) for; the
// others are amd64.
var archs = map[string]string{RPiFirmware: "arm64"}

// Arch returns the architecture (GOARCH) the image of package name is built
// for, which its content tag depends on.
func Arch(name string) string {
	if a, ok := archs[name]; ok {
		return a
	}
	return "amd64"
}

// Ref returns the default reference of the image of package name,
// ghcr.io/kitbuild/NAME:TAG, and whether the package is known.
func Ref(name string) (string, bool) {
	tag, ok := tags[name]
	if !ok {
		return "", false
	}
	return Repository + "/" + name + ":" + tag, true
}

// MustRef is Ref for the package names of this package's constants; it
// panics for a package without a tag (a programming error caught by the
// format plugins' tests).
func MustRef(name string) string {
	ref, ok := Ref(name)
	if !ok {
		panic("bootimages: no tag for package " + name + " (go test ./plugins/internal/bootimages -run TestDefaultTags -update)")
	}
	return ref
}

// Names returns the packages with a default reference, sorted.
func Names() []string {
	out := make([]string, 0, len(tags))
	for n := range tags {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
