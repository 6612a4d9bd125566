// Package fmtutil holds the small Build helpers the format plugins share:
// reading a request's inputs and command line, and creating, copying and
// cleaning up output files in the request's scratch directory.
package fmtutil
