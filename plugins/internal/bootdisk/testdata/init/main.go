// Command init is the /init of the boot tests' initrd: it prints a marker
// and the kernel command line on the console, then powers the machine off.
package main

import (
	"os"
	"syscall"
)

func main() {
	out, err := os.OpenFile("/dev/console", os.O_WRONLY, 0)
	if err != nil {
		out = os.Stdout
	}
	cmdline := "?"
	if err := syscall.Mount("proc", "/proc", "proc", 0, ""); err == nil {
		if b, err := os.ReadFile("/proc/cmdline"); err == nil {
			cmdline = string(b)
		}
	}
	out.WriteString("\nKIT-BOOT-OK cmdline: " + cmdline + "\n")
	out.Sync()
	syscall.Sync()
	syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
