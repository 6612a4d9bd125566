// Package formatcloud is the format-cloud plugin: the disk images cloud
// platforms import, each wrapping the raw-bios disk of the format-disk
// plugin (needed by name, so kit builds that disk once for all of them).
// The platforms' own rules apply:
//
//   - gcp, NAME.img.tar.gz (LinuxKit's name): a gzip'd GNU-format tar
//     holding only disk.raw, the disk zero-padded to a whole number of GiB
//     (at least 1 GiB), as Compute Engine's image import requires.
//     gcloud storage cp NAME.img.tar.gz gs://BUCKET/, then
//     gcloud compute images create NAME --source-uri gs://BUCKET/NAME.img.tar.gz.
//
//   - aws, NAME.raw (LinuxKit's name): the raw-bios disk byte for byte.
//     VM Import/Export takes RAW disks for import-snapshot and states no
//     alignment rule for them; EBS sizes the snapshot's volume in whole GiB,
//     rounding up. The derived raw-bios size is already a whole number of
//     MiB; --disk-size sets it (a multiple of 512). Upload it to S3, then
//     aws ec2 import-snapshot --disk-container 'Format=RAW,UserBucket={S3Bucket=BUCKET,S3Key=NAME.raw}'
//     (with the vmimport service role), wait for the task in
//     aws ec2 describe-import-snapshot-tasks, and register the snapshot:
//     aws ec2 register-image --name NAME --architecture x86_64
//     --virtualization-type hvm --boot-mode legacy-bios --ena-support
//     --root-device-name /dev/xvda
//     --block-device-mappings 'DeviceName=/dev/xvda,Ebs={SnapshotId=SNAPSHOT}'.
//
//   - azure, NAME-azure.vhd (LinuxKit has no azure format; it pushes its vhd
//     output, NAME.vhd, which kit's vhd format writes, so kit names this one
//     apart): a fixed VHD whose virtual size is the disk rounded up to a
//     whole number of MiB, as Azure requires of page-blob VHDs. Upload it as
//     a page blob (azcopy copy NAME-azure.vhd URL --blob-type PageBlob) and
//     make a generation 1 (BIOS) image of it:
//     az image create --source URL --os-type Linux --hyper-v-generation V1.
//
// All three boot by BIOS (SYSLINUX), on x86-64 only: raw-bios refuses other
// architectures. The kernel needs the platform's drivers (virtio for GCE;
// NVMe and ENA or Xen's for EC2; Hyper-V's storvsc and netvsc for Azure).
// cmd/kit-plugin-format-cloud serves the plugin.
package formatcloud
