package main

import (
	formatboard "github.com/kitbuild/kit/plugins/format-board"
	"github.com/kitbuild/kit/sdk"
)

func main() { sdk.Serve(formatboard.Plugin()) }
