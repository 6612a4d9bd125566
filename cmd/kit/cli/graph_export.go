package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kitbuild/kit/core/graphbuild"
)

func newGraphExportCmd() *cobra.Command {
	var root string
	var bazel, print bool
	cmd := &cobra.Command{
		Use:   "export --bazel [flags] [PATTERN...]",
		Short: "Write Bazel targets for the systems and packages of a workspace",
		Long: `Write, for the selected systems and packages, the BUILD.bazel targets that
build them with the rules of bazel/kit.bzl (docs/bazel.md): kit_system in the
directory of each system's spec, kit_package in each package directory. A
BUILD.bazel that kit did not generate is never overwritten; --print writes
the files to standard output instead.`,
		Example: `  kit graph export --bazel ./...
  kit graph export --bazel --print ./systems/...`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !bazel {
				return fmt.Errorf("say what to export: --bazel")
			}
			ws, err := graphbuild.Load(graphbuild.LoadOptions{Root: root, Env: os.Environ()}, args...)
			if err != nil {
				return err
			}
			sel, err := ws.Select(args...)
			if err != nil {
				return err
			}
			files, notes, err := ws.BazelExport(sel, graphbuild.FindBazelRoot(ws.Root))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if print {
				for _, f := range files {
					fmt.Fprintf(out, "# %s\n%s\n", rel(ws.Root, f.Path), f.Content)
				}
			} else {
				for _, f := range files {
					if err := graphbuild.CheckBazelFile(f.Path); err != nil {
						return err
					}
				}
				for _, f := range files {
					if err := writeFileAtomic(f.Path, f.Content); err != nil {
						return err
					}
					fmt.Fprintln(out, rel(ws.Root, f.Path))
				}
			}
			for _, n := range notes {
				fmt.Fprintln(cmd.ErrOrStderr(), "note:", n)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&bazel, "bazel", false, "write BUILD.bazel files with kit_system and kit_package targets")
	f.BoolVar(&print, "print", false, "print the files instead of writing them")
	f.StringVar(&root, "workspace", "", "workspace directory (default: the nearest directory holding kit.work.hcl, else the working directory)")
	return cmd
}

// rel returns p relative to root when it lies under it.
func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && len(r) > 0 && r[0] != '.' {
		return r
	}
	return p
}

// writeFileAtomic writes a file through a temporary file and a rename.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".kit-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
