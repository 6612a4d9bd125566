// Package initsys is the logic of kit-init, the small PID 1 of kit systems:
// the ramfs-to-tmpfs root switch, the early mounts, running the onboot,
// service and onshutdown bundles of the assembled root filesystem with runc,
// zombie reaping, and the shutdown sequence. The kernel and the container
// runtime are reached through the System and Runtime interfaces so that the
// sequencing can be tested without root.
package initsys
