package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/kitbuild/kit/core/spec"
	"github.com/kitbuild/kit/core/steps/fetch"
	"github.com/kitbuild/kit/testing/imagegen"
	"github.com/kitbuild/kit/testing/registry"
)

type specList []string

func (s *specList) String() string     { return strings.Join(*s, ",") }
func (s *specList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	addr := flag.String("addr", "127.0.0.1:5000", "address to listen on")
	seed := flag.Bool("seed", false, "push the demo images (linuxkit/kernel:demo, ...)")
	var specs specList
	flag.Var(&specs, "seed-spec", "push a synthetic image for every image of this spec (repeatable)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *seed, specs); err != nil {
		fmt.Fprintln(os.Stderr, "kit-testregistry:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, seed bool, specs []string) error {
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
	for _, path := range specs {
		sys, err := spec.Load(path)
		if err != nil {
			return err
		}
		imgs, err := imagegen.ForSpec(sys)
		if err != nil {
			return err
		}
		for ref, img := range imgs {
			local, err := localRef(ref)
			if err != nil {
				return err
			}
			if _, err := r.Write(ctx, local, img); err != nil {
				return fmt.Errorf("%s: %w", ref, err)
			}
		}
	}
	fmt.Println("listening on", r.Host())
	<-ctx.Done()
	return nil
}

// localRef is the repository path and tag of ref, without its registry
// ("redis:7" → "library/redis:7"), which is what a mirror of the ref's
// registry serves.
func localRef(ref string) (string, error) {
	parsed, err := fetch.ParseRef(ref)
	if err != nil {
		return "", err
	}
	repo := parsed.Context().RepositoryStr()
	if t, ok := parsed.(name.Tag); ok {
		return repo + ":" + t.TagStr(), nil
	}
	return "", fmt.Errorf("%s: -seed-spec needs tag references", ref)
}
