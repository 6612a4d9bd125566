// Package unpack is the "unpack" step: it flattens an image's layers
// (whiteouts applied, later layers winning) into one normalized tar, rewritten
// for its use as a container, init or volume root filesystem, and refuses
// hostile layers (escaping names, writes through symlinks, foreign hard links,
// device nodes). Flatten, the streaming engine, is exported for other steps
// (kernel) that need an image's files.
package unpack
