// Package imagegen builds small, deterministic synthetic OCI images for
// tests and benchmarks: kernels, init and container images, layered images
// with whiteouts, hostile archives and multi-arch indexes. The same call
// always yields the same digests.
package imagegen
