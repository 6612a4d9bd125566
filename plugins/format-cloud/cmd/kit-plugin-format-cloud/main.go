package main

import (
	formatcloud "github.com/kitbuild/kit/plugins/format-cloud"
	"github.com/kitbuild/kit/sdk"
)

func main() { sdk.Serve(formatcloud.Plugin()) }
