// Package partition writes MBR and GPT partition tables into a disk image
// (an io.WriterAt): an MBR with up to four primary partitions, or a
// protective MBR with primary and backup GPT headers and entry arrays. GUIDs
// not given are derived from a seed, so the same layout and seed always give
// the same bytes.
package partition
