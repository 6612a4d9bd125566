//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Fprintf(os.Stderr, "kit-init: the init of kit systems runs on Linux only, not %s\n", runtime.GOOS)
	os.Exit(1)
}
