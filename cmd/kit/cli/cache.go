package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/kitbuild/kit/core/cache"
)

// cacheOptions are the flags shared by the `kit cache` commands.
type cacheOptions struct {
	dir  string
	json bool
}

func (o *cacheOptions) open() (*cache.Store, error) {
	dir := o.dir
	if dir == "" {
		dir = cache.DefaultDir()
	}
	return cache.Open(dir)
}

func newCacheCmd() *cobra.Command {
	o := &cacheOptions{}
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Inspect and maintain kit's cache",
		Long: `kit's cache is a content-addressed store (an OCI image layout under
blobs/sha256) plus an action cache mapping step keys to outputs. Several kit
processes may share it. It lives in --cache, $KIT_CACHE, or the XDG cache dir.`,
	}
	cmd.PersistentFlags().StringVar(&o.dir, "cache", "", "cache directory (default $KIT_CACHE or the XDG cache dir)")
	cmd.PersistentFlags().BoolVar(&o.json, "json", false, "print JSON")
	cmd.AddCommand(newCacheLsCmd(o), newCacheDuCmd(o), newCachePruneCmd(o), newCacheExportCmd(o), newCacheImportCmd(o))
	return cmd
}

func newCacheLsCmd(o *cacheOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List cached step results, most recently used first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := o.open()
			if err != nil {
				return err
			}
			entries, err := s.List(cmd.Context())
			if err != nil {
				return err
			}
			if o.json {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(entries)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tKIND\tSIZE\tLAST USED\tNAME")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Key.Short(), e.Kind, humanize.IBytes(uint64(e.Size)), humanize.Time(e.LastUsed), e.Name)
			}
			return tw.Flush()
		},
	}
}

func newCacheDuCmd(o *cacheOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "du",
		Short: "Show the cache's disk usage",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := o.open()
			if err != nil {
				return err
			}
			u, err := s.DiskUsage(cmd.Context())
			if err != nil {
				return err
			}
			if o.json {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(u)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "cache       %s\n", s.Dir())
			fmt.Fprintf(w, "blobs       %d (%s, %s referenced by cached steps)\n", u.Blobs, humanize.IBytes(uint64(u.BlobBytes)), humanize.IBytes(uint64(u.ReferencedBytes)))
			fmt.Fprintf(w, "actions     %d (%s)\n", u.Actions, humanize.IBytes(uint64(u.ActionBytes)))
			fmt.Fprintf(w, "images      %d\n", u.Images)
			fmt.Fprintf(w, "temporary   %d (%s)\n", u.Temp, humanize.IBytes(uint64(u.TempBytes)))
			fmt.Fprintf(w, "total       %s\n", humanize.IBytes(uint64(u.TotalBytes)))
			return nil
		},
	}
}

func newCachePruneCmd(o *cacheOptions) *cobra.Command {
	var keep string
	var images bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove least recently used results until the cache fits",
		Long: `Remove the least recently used step results until the blobs that the
kept results reference fit in --keep-bytes (default 0: remove every result),
then every blob nothing references. Images recorded by fetches are kept unless
--images. A prune waits for running builds to finish.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := parseBytes(keep)
			if err != nil {
				return fmt.Errorf("--keep-bytes %q: %w", keep, err)
			}
			s, err := o.open()
			if err != nil {
				return err
			}
			var opts []cache.PruneOption
			if images {
				opts = append(opts, cache.PruneImages())
			}
			r, err := s.Prune(cmd.Context(), n, opts...)
			if err != nil {
				return err
			}
			if o.json {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(r)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d results, %d blobs, %d images, %d temporary files; freed %s; kept %d results (%s)\n",
				r.ActionsRemoved, r.BlobsRemoved, r.ImagesRemoved, r.TempRemoved, humanize.IBytes(uint64(r.FreedBytes)), r.ActionsKept, humanize.IBytes(uint64(r.KeptBytes)))
			return nil
		},
	}
	cmd.Flags().StringVar(&keep, "keep-bytes", "0", "bytes of results to keep (e.g. 10GB, 512MiB)")
	cmd.Flags().BoolVar(&images, "images", false, "also remove fetched images")
	return cmd
}

// parseBytes reads a byte count: a number with an optional unit (KB, MiB,
// GB, ...).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative size")
		}
		return n, nil
	}
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, err
	}
	if n > 1<<62 {
		return 0, fmt.Errorf("too large")
	}
	return int64(n), nil
}

func newCacheExportCmd(o *cacheOptions) *cobra.Command {
	var formatName string
	cmd := &cobra.Command{
		Use:   "export --format oci DIR [REF...]",
		Short: "Write cached images as an OCI image layout",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if formatName != "oci" {
				return fmt.Errorf("--format %q: only oci is supported", formatName)
			}
			s, err := o.open()
			if err != nil {
				return err
			}
			imgs, err := s.Export(cmd.Context(), args[0], args[1:]...)
			if err != nil {
				return err
			}
			return printImages(cmd.OutOrStdout(), o.json, imgs)
		},
	}
	cmd.Flags().StringVar(&formatName, "format", "oci", "layout format (oci)")
	return cmd
}

func newCacheImportCmd(o *cacheOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "import PATH",
		Short: "Import images from an OCI layout directory or a docker save tarball",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.open()
			if err != nil {
				return err
			}
			imgs, err := s.Import(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printImages(cmd.OutOrStdout(), o.json, imgs)
		},
	}
}

func printImages(w io.Writer, asJSON bool, imgs []cache.Image) error {
	if asJSON {
		return json.NewEncoder(w).Encode(imgs)
	}
	for _, im := range imgs {
		fmt.Fprintf(w, "%s\t%s\n", im.Digest, im.Ref)
	}
	return nil
}
