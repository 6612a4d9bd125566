// Package spec holds the system spec kit builds from: the Go types (the single
// source of truth, from which schemas/kit-spec.json is generated), a strict
// LinuxKit-compatible YAML decoder with file:line:col errors, the HCL form
// (several systems, variables, functions, packages, outputs) decoded into the
// same types with HCL diagnostics, validation, merging of several spec files
// and of image labels, and canonical encoding (YAML, JSON, HCL).
package spec
