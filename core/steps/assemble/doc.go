// Package assemble is the "assemble" step: a streaming k-way merge of the
// normalized tars of the kernel, init images, volumes, container bundles and
// file entries into the one root filesystem of a system, laid out as
// LinuxKit lays it out (Layout), with the kernel, command line and microcode
// passed on beside it.
package assemble
