// Package gce writes a raw disk as a Google Compute Engine image archive: a gzip-compressed
// GNU-format tar holding one file, disk.raw, whose size is a whole number of GiB (the disk
// zero-padded up to it). The archive is streamed, compressed in parallel with fixed block
// size and level, and every header field is fixed, so output is reproducible.
package gce
