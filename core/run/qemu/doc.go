// Package qemu boots kit's artifacts in QEMU: it builds the command line
// (architecture, accelerator, memory, user-mode networking with published
// ports, UEFI firmware, disks), finds the QEMU binaries and firmware, and runs
// QEMU with the guest's serial console on stdio.
package qemu
