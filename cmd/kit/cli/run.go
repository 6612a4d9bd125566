package cli

import "github.com/spf13/cobra"

func newRunCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Boot built artifacts",
		Long: `Boot the artifacts of kit build on a platform. Each platform is a
subcommand; today there is qemu.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newRunQEMUCmd())
	return cmd
}
