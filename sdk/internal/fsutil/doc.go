// Package fsutil has the file checks both halves of the plugin protocol
// make: containment in the scratch directory and content digests.
package fsutil
