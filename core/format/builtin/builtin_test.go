package builtin_test

import (
	"slices"
	"testing"

	"github.com/kitbuild/kit/core/format"
	_ "github.com/kitbuild/kit/core/format/builtin"
)

func TestBuiltinFormats(t *testing.T) {
	want := []string{"docker", "kernel+initrd", "tar", "tar-kernel-initrd"}
	if got := format.Names(); !slices.Equal(got, want) {
		t.Errorf("registered formats %q, want %q", got, want)
	}
}
