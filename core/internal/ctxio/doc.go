// Package ctxio makes long copies cancellable: readers that fail with the
// context's error once it is done.
package ctxio
