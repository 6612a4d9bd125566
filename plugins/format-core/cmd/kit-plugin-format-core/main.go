package main

import (
	formatcore "github.com/kitbuild/kit/plugins/format-core"
	"github.com/kitbuild/kit/sdk"
)

func main() { sdk.Serve(formatcore.Plugin()) }
