// Package spec holds the system spec kit builds from: the Go types (the single
// source of truth, from which schemas/kit-spec.json is generated), a strict
// LinuxKit-compatible YAML decoder with file:line:col errors, validation,
// merging of several spec files and of image labels, and canonical encoding.
package spec
