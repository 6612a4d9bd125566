// Package formatcore serves kit's four built-in formats (tar, docker,
// kernel+initrd, tar-kernel-initrd) over the plugin protocol, by running
// their core/format implementations on a graph.Exec over the request's
// scratch directory; kit runs them in process unless KIT_BUILTIN_FORMATS=off,
// and this plugin is how the plugin path for them is used and tested.
package formatcore
