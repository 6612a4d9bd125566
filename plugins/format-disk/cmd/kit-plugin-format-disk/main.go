package main

import (
	formatdisk "github.com/kitbuild/kit/plugins/format-disk"
	"github.com/kitbuild/kit/sdk"
)

func main() { sdk.Serve(formatdisk.Plugin()) }
