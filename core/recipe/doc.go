// Package recipe describes a blob by reference instead of by copy: a
// recipe lists the blob's bytes as literal runs and ranges of other blobs
// of the store. The assemble step writes the root filesystem as a recipe
// (its file contents are ranges of the unpacked images' tars, only the tar
// headers are new), so a system's root filesystem costs the store a few
// hundred kilobytes instead of a copy of every image; Open reads it back
// as the tar it describes.
package recipe
