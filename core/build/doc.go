// Package build turns system specs into a build plan and runs it: it loads
// and validates the specs, resolves every image reference through the lock
// file, merges image labels, lays out the DAG of fetch, unpack, kernel,
// runtime, files, assemble and format steps, solves it through the cache and
// writes the artifacts into the output directory atomically.
package build
