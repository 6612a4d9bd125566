package runtime

import (
	"github.com/kitbuild/kit/core/spec"
)

func ptr[T any](v T) *T { return &v }

func strs(s ...string) *[]string { return &s }

func num(n uint32) *spec.IDValue { return &spec.IDValue{Number: &n} }

func name(s string) *spec.IDValue { return &spec.IDValue{Name: s} }

// busybox is the image config most cases start from.
var busybox = ImageConfig{
	Entrypoint: []string{"/bin/sh", "-c"},
	Cmd:        []string{"echo hello"},
	Env:        []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
	WorkingDir: "/work",
}

func entry(mod func(e *spec.Image)) *spec.Image {
	e := &spec.Image{Name: "test", Image: "docker.io/library/busybox:1.36"}
	if mod != nil {
		mod(e)
	}
	return e
}
