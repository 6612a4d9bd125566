// Command bootinit is the /init of the isoboot boot tests' initrd: it
// writes KIT-BOOT-OK to the console and powers the machine off.
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	out := os.Stdout
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		out = f
	}
	fmt.Fprintf(out, "\nKIT-BOOT-OK\n")
	syscall.Sync()
	if err := syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintf(out, "KIT-POWEROFF-FAILED: %v\n", err)
	}
	select {}
}
