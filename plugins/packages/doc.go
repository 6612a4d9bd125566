// Package packages holds the pkg.yml directories of the bootloader images
// kit's boot formats take their files from (syslinux, systemd-boot,
// rpi-firmware), built with `kit pkg build`, and the default references of
// those images (refs.go), which TestRefs keeps equal to what
// `kit pkg show-tag` prints.
package packages
