package main

import (
	formatiso "github.com/kitbuild/kit/plugins/format-iso"
	"github.com/kitbuild/kit/sdk"
)

func main() { sdk.Serve(formatiso.Plugin()) }
