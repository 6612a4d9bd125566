// Package run finds the bootable artifacts a runner starts: it resolves a
// build prefix or an artifact path (kernel+initrd, ISO, disk image) to an
// Artifact. Runners for a platform live in sub-packages (run/qemu).
package run
