// Package pkg builds kit package images without a Docker daemon: it decodes a
// package definition (pkg.yml), pins its Debian packages in pkg.lock, and
// plans the image as steps of kit's build DAG (pkg-debs, pkg-kernel, pkg-go,
// pkg-files, pkg-image) whose deterministic OCI image lands in the kit cache.
package pkg
