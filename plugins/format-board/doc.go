// Package formatboard is the format-board plugin: boot media for single-board
// computers. It serves rpi4, Raspberry Pi 4 (and 400, Compute Module 4) boot
// media for arm64 systems: NAME-rpi4.img, a disk image to write to an SD
// card or USB drive as it is (dd if=NAME-rpi4.img of=/dev/sdX bs=4M
// conv=fsync, or Raspberry Pi Imager's "use custom"). Its MBR holds one
// FAT32 partition (type 0x0C, from 1 MiB) with what the Pi 4's boot
// EEPROM and GPU firmware read:
//
//   - start4*.elf and fixup4*.dat, the GPU firmware, from the rpi-firmware
//     image (Debian's raspi-firmware; the Pi 4 boots without bootcode.bin);
//   - config.txt: arm_64bit=1, kernel=kernel8.img,
//     initramfs initrd.img followkernel, enable_uart=1 (a serial console on
//     the GPIO header's UART);
//   - cmdline.txt, the kernel command line;
//   - kernel8.img, the kernel (an arm64 Image, or one gzip'd: the firmware
//     inflates it), and initrd.img, kit's initramfs of the system;
//   - the bcm2711-*.dtb device trees: the kernel's own, from the root
//     filesystem (boot/dtb/broadcom/, where kernel images put them in
//     kernel.tar, or usr/lib/linux-image-*/broadcom/), else the
//     rpi-firmware image's (Debian's arm64 kernel's).
//
// LinuxKit's rpi3 format writes NAME.tar instead, the files of a boot
// partition to extract onto an SD card the user partitioned and formatted
// by hand, and boots through U-Boot; rpi4 boots the kernel straight from
// the firmware and needs no preparation of the card. The disk's size is
// derived from the files (see the diskSize property of its config, which
// --disk-size sets); the system runs from its initramfs, so the card's
// remaining space stays unpartitioned.
//
// cmd/kit-plugin-format-board serves the plugin.
package formatboard
