package deb_test

import (
	"archive/tar"
	"context"
	"fmt"
	"os"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/pkg/deb"
)

// Resolve packages against the machine's apt sources, pin them in a lock,
// download them verified into the kit cache and stream each data.tar.
func Example() {
	ctx := context.Background()
	cfg, err := deb.LoadConfig("/")
	if err != nil {
		fmt.Println(err)
		return
	}
	store, err := cache.Open(cache.DefaultDir())
	if err != nil {
		fmt.Println(err)
		return
	}
	c := deb.NewClient(store)
	ix, err := c.LoadIndex(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	req, _ := deb.ParseRequest("busybox-static")
	pkgs, err := ix.Resolve([]deb.Request{req})
	if err != nil {
		fmt.Println(err) // e.g. "unsatisfiable dependency a 1 → b (>= 2): ..."
		return
	}
	lock := deb.NewLock(pkgs) // store lock.Marshal() next to the package definition
	outs, err := c.FetchLock(ctx, lock)
	if err != nil {
		fmt.Println(err) // e.g. "package foo 1.2: sha256 mismatch: index says ..., got ..."
		return
	}
	tw := tar.NewWriter(os.Stdout)
	for _, out := range outs {
		p, _ := store.Path(out.Digest)
		f, err := os.Open(p)
		if err != nil {
			fmt.Println(err)
			return
		}
		d, err := deb.OpenDeb(f) // maintainer scripts are listed in d.Scripts, never run
		if err == nil {
			err = d.WriteData(ctx, tw)
		}
		f.Close()
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	tw.Close()
}
