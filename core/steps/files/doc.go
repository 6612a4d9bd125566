// Package files is the "files" step: it turns the resolved file entries of a
// system spec (directories, symlinks, inline contents, host files, the
// spec's own metadata) into normalized tars for the assemble step, and
// resolves spec entries into those values at plan time (Resolve).
package files
