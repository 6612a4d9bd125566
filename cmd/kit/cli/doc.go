// Package cli holds kit's cobra commands, one file per command, each with
// its options grouped in a struct. It only parses flags and renders
// results; the work is done by the core packages.
package cli
