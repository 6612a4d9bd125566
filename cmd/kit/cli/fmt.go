package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/spf13/cobra"

	"github.com/kitbuild/kit/core/spec"
)

// fmtOptions are the flags of `kit fmt`.
type fmtOptions struct {
	check bool
	write bool
}

func newFmtCmd() *cobra.Command {
	o := &fmtOptions{}
	cmd := &cobra.Command{
		Use:   "fmt [--check] [-w] [FILE|DIR...]",
		Short: "Format HCL specs",
		Long: `Format HCL specs (*.hcl files; directories are searched recursively, hidden
ones skipped) in the canonical style: aligned "=", two-space indentation.

Without flags the formatted text is printed. -w rewrites the files that are
not formatted and lists them. --check changes nothing: it lists the files
that are not formatted and exits 1 if there are any. A file with syntax
errors is reported with its diagnostics and never rewritten. The default
is the current directory.`,
		Example: `  kit fmt --check .
  kit fmt -w examples/redis-os.kit.hcl`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.check && o.write {
				return errors.New("--check and -w exclude each other")
			}
			if len(args) == 0 {
				args = []string{"."}
			}
			return o.run(cmd, args)
		},
	}
	cmd.Flags().BoolVar(&o.check, "check", false, "list the files that are not formatted and exit 1 if any; change nothing")
	cmd.Flags().BoolVarP(&o.write, "write", "w", false, "rewrite files that are not formatted")
	return cmd
}

func (o *fmtOptions) run(cmd *cobra.Command, args []string) error {
	files, err := hclFiles(args)
	if err != nil {
		return err
	}
	var unformatted, broken int
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if _, diags := hclsyntax.ParseConfig(src, file, hcl.InitialPos); diags.HasErrors() {
			broken++
			d := &spec.Diagnostics{Diags: diags, Files: map[string]*hcl.File{file: {Bytes: src}}}
			if err := d.WriteText(cmd.ErrOrStderr(), 0, false); err != nil {
				return err
			}
			continue
		}
		out := spec.FormatHCL(src)
		switch {
		case o.check:
			if !bytes.Equal(out, src) {
				unformatted++
				fmt.Fprintln(cmd.OutOrStdout(), file)
			}
		case o.write:
			if bytes.Equal(out, src) {
				continue
			}
			unformatted++
			fi, err := os.Stat(file)
			if err != nil {
				return err
			}
			if err := replaceFile(file, out, fi.Mode().Perm()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), file)
		default:
			if _, err := cmd.OutOrStdout().Write(out); err != nil {
				return err
			}
		}
	}
	switch {
	case broken > 0:
		return &exitError{code: 1, err: fmt.Errorf("%d file(s) with syntax errors", broken)}
	case o.check && unformatted > 0:
		return &exitError{code: 1, err: fmt.Errorf("%d file(s) not formatted (kit fmt -w fixes them)", unformatted)}
	}
	return nil
}

// hclFiles expands args into HCL files: files as given, directories
// searched for *.hcl, sorted.
func hclFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && p != a && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !d.IsDir() && spec.IsHCL(p) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// replaceFile replaces path with data through a temporary file.
func replaceFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
