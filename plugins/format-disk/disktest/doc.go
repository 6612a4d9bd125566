// Package disktest is the test kit of kit's disk format plugins
// (format-disk, format-cloud, format-board): bootloader image inputs made
// from Debian packages (downloaded with apt-get, unpacked with dpkg-deb,
// never installed), a synthetic kernel, initrd and command line, and
// helpers that read a disk's partition table and judge its FAT file
// systems with fsck.vfat and mtools.
package disktest
