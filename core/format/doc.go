// Package format turns an assembled root filesystem into the artifacts a
// platform boots (a tar, a kernel and initrd, ...). Each output format is a
// Format registered by name, usually from its own package's init; Op is the
// "format" build step that looks one up and runs it.
package format
