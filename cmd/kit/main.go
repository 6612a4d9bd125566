package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"syscall"
	"time"

	"github.com/kitbuild/kit/cmd/kit/cli"
)

func main() {
	startupGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// $KIT_CPUPROFILE names a file to write a CPU profile of the whole run
	// to (go tool pprof reads it): for looking into a slow build.
	if p := os.Getenv("KIT_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kit: KIT_CPUPROFILE: %v\n", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "kit: KIT_CPUPROFILE: %v\n", err)
			os.Exit(2)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	// $KIT_TRACE names a file for an execution trace of the run (go tool
	// trace reads it): where the wall time of a build goes.
	if p := os.Getenv("KIT_TRACE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kit: KIT_TRACE: %v\n", err)
			os.Exit(2)
		}
		if err := trace.Start(f); err != nil {
			fmt.Fprintf(os.Stderr, "kit: KIT_TRACE: %v\n", err)
			os.Exit(2)
		}
		defer f.Close()
	}
	code := cli.Execute(ctx, os.Args[1:])
	stop()
	pprof.StopCPUProfile()
	trace.Stop()
	os.Exit(code)
}

// startupGC lets the garbage collector wait during kit's first 50 ms,
// unless $GOGC says otherwise. Package initialisation (a JSON Schema
// library compiles its meta-schemas) and reading the specs allocate a few
// MB that soon are garbage; collecting them made a cycle in every run, a
// tenth of a build that finds everything in the cache. Past 50 ms, when a
// build that has work to do runs its steps, the collector is back to its
// default.
func startupGC() {
	if os.Getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(400)
	time.AfterFunc(50*time.Millisecond, func() { debug.SetGCPercent(100) })
}
