// Command kit-plugin-format-disk is the format-disk plugin: raw-bios,
// raw-efi, qcow2-bios, qcow2-efi, vhd, dynamic-vhd and vmdk. kit starts it;
// run by hand it says so and exits.
package main

import (
	formatdisk "github.com/kitbuild/kit/plugins/format-disk"
	"github.com/kitbuild/kit/sdk"
)

func main() {
	sdk.Serve(formatdisk.Plugin())
}
