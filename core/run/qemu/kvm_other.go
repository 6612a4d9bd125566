//go:build !linux

package qemu

import (
	"fmt"
	"runtime"
)

func probeKVM(string) error { return fmt.Errorf("KVM needs Linux, the host is %s", runtime.GOOS) }
