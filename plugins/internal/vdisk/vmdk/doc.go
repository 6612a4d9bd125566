// Package vmdk writes a raw disk as a monolithic streamOptimized VMDK, the flavour VMware
// (ESXi, vSphere, OVF/OVA import) and qemu read: a sparse extent header, an embedded
// descriptor, zlib-compressed 64 KiB grains each behind a grain marker, grain tables, the
// grain directory and a footer, written front to back in one stream. Grains are compressed
// in parallel at a fixed level and written in disk order, so the output is reproducible.
package vmdk
