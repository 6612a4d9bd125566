// Command probe is the process of the containers of initsys's runc test:
// "exit N" exits with N; "write PATH" reports whether PATH can be written;
// "serve [PATH]" does the same, then waits for SIGTERM.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
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
