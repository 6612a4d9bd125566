// Package tarscan walks the members of a tar archive stored in an
// io.ReaderAt and reports where each member's headers and data lie, so that
// callers can read data in place or copy members byte for byte.
package tarscan
