// Package kernel is the "kernel" step: it extracts the kernel binary, the
// modules tar (normalized) and optional microcode from a kernel image, as
// the spec's kernel section names them.
package kernel
