//go:build linux

// Command probe is the process of the containers of initsys's runc and VM
// tests: "exit N" exits with N; "write PATH" reports whether PATH can be
// written; "serve [PATH]" does the same, then waits for SIGTERM; "hook"
// is the debug hook of the VM test: it reports what it sees of the booted
// system, then asks for a poweroff with `/init poweroff`.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func write(path string) {
	if err := os.WriteFile(path, []byte("probe"), 0o644); err != nil {
		fmt.Printf("probe write %s: %v\n", path, err)
		return
	}
	fmt.Printf("probe write %s: ok\n", path)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "probe: no command")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "exit":
		n, _ := strconv.Atoi(os.Args[2])
		fmt.Printf("probe exit %d\n", n)
		os.Exit(n)
	case "write":
		write(os.Args[2])
	case "hook":
		hook()
	case "serve":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		if len(os.Args) > 2 {
			write(os.Args[2])
		}
		fmt.Println("probe serving")
		<-sigs
		fmt.Println("probe got SIGTERM")
	}
}

func hook() {
	name, _ := os.Hostname()
	fmt.Printf("HOOK hostname=%s\n", name)
	var st syscall.Statfs_t
	if err := syscall.Statfs("/", &st); err == nil {
		fmt.Printf("HOOK root-fs-type=%#x\n", st.Type)
	}
	flags, _ := os.ReadFile("/sys/class/net/lo/flags")
	fmt.Printf("HOOK lo-flags=%s\n", strings.TrimSpace(string(flags)))
	for i := 0; i < 100; i++ {
		b, _ := os.ReadFile("/var/log/svc.log")
		if strings.Contains(string(b), "probe serving") {
			fmt.Printf("HOOK svc-log=%q\n", b)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	mounts, _ := os.ReadFile("/proc/self/mounts")
	for _, l := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(l); len(f) > 2 && (f[1] == "/" || f[1] == "/sys/fs/cgroup" || f[1] == "/run") {
			fmt.Printf("HOOK mount %s %s\n", f[1], f[2])
		}
	}
	out, err := exec.Command("/init", "poweroff").CombinedOutput()
	fmt.Printf("HOOK poweroff: %s %v\n", out, err)
}
