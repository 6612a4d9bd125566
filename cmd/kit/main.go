package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kitbuild/kit/cmd/kit/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
