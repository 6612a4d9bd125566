package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Execute runs kit with args and returns the process exit code.
func Execute(ctx context.Context, args []string) int {
	root := newRoot(os.Stdout, os.Stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(os.Stderr, "kit: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if ctx.Err() != nil {
		return 130
	}
	return 1
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "kit",
		Short: "Build immutable, container-based Linux systems",
		Long: `kit builds bootable, reproducible Linux systems from declarative specs
(LinuxKit YAML): a kernel, init images, onboot/onshutdown/service containers,
files and volumes become an initrd, a tarball, ISO or disk images.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newBuildCmd(),
		newValidateCmd(),
		newFmtCmd(),
		newConvertCmd(),
		newCacheCmd(),
		newVersionCmd(),
		newRunCmd(),
		newPkgCmd(),
		newPluginCmd(),
		newGraphCmd(),
	)
	return root
}
