// Package tarfmt holds the tar-based output formats: "tar" (the root
// filesystem tar itself) and "docker" (the same tar with a Dockerfile, a
// build context for `docker build -`). Importing it registers both.
package tarfmt
