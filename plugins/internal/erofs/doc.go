// Package erofs writes reproducible, uncompressed EROFS images from kit's
// normalized root filesystem tars, through github.com/erofs/go-erofs (the
// EROFS project's pure-Go reader and writer).
package erofs
