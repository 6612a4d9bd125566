// Package fetch resolves image references to digests (recorded in a lock
// file beside the spec), keeps manifests, indexes and configs in the blob
// store, and provides the "fetch" step that downloads an image's layers into
// the store, verifying every digest.
package fetch
