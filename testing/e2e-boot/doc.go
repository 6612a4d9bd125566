// Package e2eboot holds kit's boot tests under QEMU: TestRedisOSBoots builds
// the example packages and examples/redis-os.yml, boots RedisOS with `kit
// run qemu` and judges the serial console; TestFormatsBoot builds a lean
// system into every bootable plugin format (ISOs, raw/qcow2/VHD/VMDK disks,
// cloud images) and boots each with SeaBIOS or OVMF to a marker; and the
// check that the spec's package tags are current.
package e2eboot
