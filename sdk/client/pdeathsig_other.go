//go:build !linux

package client

import "os/exec"

// setPdeathsig does nothing outside Linux; the plugin's parent watch ends
// an orphaned plugin there.
func setPdeathsig(*exec.Cmd) {}
