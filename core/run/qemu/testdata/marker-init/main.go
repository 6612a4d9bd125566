// Command marker-init is the /init of the boot test's initrd: it writes
// KIT-MARKER to the console and powers the machine off.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	out := os.Stdout
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		out = f
	}
	fmt.Fprintf(out, "\nKIT-MARKER pid=%d\n", os.Getpid())
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintf(out, "KIT-POWEROFF-FAILED: %v\n", err)
	}
	select {} // PID 1 must not exit
}
