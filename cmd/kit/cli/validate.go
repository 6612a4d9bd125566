package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kitbuild/kit/core/spec"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate SPEC...",
		Short: "Check specs without building",
		Long: `Check specs (merged in order, as kit build would) for syntax errors, unknown
keys, wrong types, duplicate names and invalid values. Every problem is
reported as file:line:col. Nothing is fetched.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sys, err := spec.Load(args...)
			if err != nil {
				return err
			}
			if err := sys.Validate(); err != nil {
				return err
			}
			for _, w := range sys.Warnings() {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d spec file(s) valid\n", len(args))
			return nil
		},
	}
}
