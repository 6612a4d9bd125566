// Package packages holds the pkg.yml directories of the bootloader images
// kit's boot formats take their files from (syslinux, systemd-boot,
// rpi-firmware), built with `kit pkg build`; their default references
// (ghcr.io/kitbuild/NAME:TAG) are in plugins/internal/bootimages. The test
// builds them and checks their boot files.
package packages
