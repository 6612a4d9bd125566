package main

import (
	formatfs "github.com/kitbuild/kit/plugins/format-fs"
	"github.com/kitbuild/kit/sdk"
)

func main() { sdk.Serve(formatfs.Plugin()) }
