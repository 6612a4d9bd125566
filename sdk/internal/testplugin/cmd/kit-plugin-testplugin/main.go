package main

import (
	"os"

	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/internal/testplugin"
)

func main() {
	if os.Getenv("KIT_TESTPLUGIN_LIAR") == "1" {
		testplugin.ServeLiar()
		return
	}
	sdk.Serve(testplugin.Plugin)
}
