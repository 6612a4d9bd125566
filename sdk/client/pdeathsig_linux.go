package client

import (
	"os/exec"
	"syscall"
)

// setPdeathsig has the kernel SIGKILL the plugin when the thread that
// started it dies (with kit, in practice). The plugin's parent watch covers
// the rest.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
