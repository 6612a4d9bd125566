package imagegen

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kitbuild/kit/core/spec"
)

// ForSpec returns a synthetic image for every image reference of a spec, so
// that a spec written for public images can be built against a loopback
// registry: a kernel image for kernel.image, an init image for each init
// entry, and a container image (named after the entry) for every other
// reference. Keys are the references as written in the spec.
func ForSpec(sys *spec.System) (map[string]v1.Image, error) {
	out := map[string]v1.Image{}
	add := func(ref string, mk func() (v1.Image, error)) error {
		if _, ok := out[ref]; ok || ref == "" {
			return nil
		}
		img, err := mk()
		if err != nil {
			return fmt.Errorf("image for %s: %w", ref, err)
		}
		out[ref] = img
		return nil
	}
	if sys.Kernel != nil {
		if err := add(sys.Kernel.Image, func() (v1.Image, error) { return Kernel(KernelOptions{UCode: true, SystemMap: true}) }); err != nil {
			return nil, err
		}
	}
	for _, ref := range sys.Init {
		if err := add(ref, func() (v1.Image, error) { return Init(shortName(ref)) }); err != nil {
			return nil, err
		}
	}
	for _, list := range [][]*spec.Image{sys.Onboot, sys.Onshutdown, sys.Services} {
		for _, e := range list {
			if err := add(e.Image, func() (v1.Image, error) {
				return Container(e.Name, Config{Cmd: []string{"/bin/" + e.Name}, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}})
			}); err != nil {
				return nil, err
			}
		}
	}
	for _, v := range sys.Volumes {
		if err := add(v.Image, func() (v1.Image, error) { return Init(v.Name) }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// shortName is the last path element of a reference, without tag or digest.
func shortName(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	if i := strings.IndexAny(ref, ":@"); i >= 0 {
		ref = ref[:i]
	}
	return ref
}
