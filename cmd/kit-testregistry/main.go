// Command kit-testregistry serves an in-memory OCI registry on loopback for
// kit's demos and scripts; -seed pushes imagegen's demo images into it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kitbuild/kit/testing/imagegen"
	"github.com/kitbuild/kit/testing/registry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5000", "address to listen on")
	seed := flag.Bool("seed", false, "push the demo images (linuxkit/kernel:demo, ...)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "kit-testregistry:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, seed bool) error {
	r, err := registry.Serve(addr)
	if err != nil {
		return err
	}
	defer r.Close()
	if seed {
		imgs, idxs, err := imagegen.Demo()
		if err != nil {
			return err
		}
		for ref, img := range imgs {
			if _, err := r.Write(ctx, ref, img); err != nil {
				return err
			}
		}
		for ref, idx := range idxs {
			if _, err := r.WriteIndex(ctx, ref, idx); err != nil {
				return err
			}
		}
	}
	fmt.Println("listening on", r.Host())
	<-ctx.Done()
	return nil
}
