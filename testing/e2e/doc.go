// Package e2e holds kit's acceptance tests: each test starts a loopback
// registry seeded with synthetic images, runs the real kit binary on specs
// against its own cache, and judges the artifacts with tar, cpio and gzip.
package e2e
