// Package registry serves go-containerregistry's in-memory OCI registry on
// loopback for tests and demos, with a request log and fault injection
// (corrupted blobs, error statuses, authentication, shutdown).
package registry
