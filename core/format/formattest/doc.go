// Package formattest is the test kit for output formats: an in-directory
// graph.Exec, builders for normalized rootfs tars and format inputs, and
// Check, which runs a format twice and asserts the contract every format
// (built-in or plugin) must keep.
package formattest
