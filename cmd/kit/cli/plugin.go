package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/format"
	"github.com/kitbuild/kit/core/plugin"
	"github.com/kitbuild/kit/sdk"
)

// pluginOptions are the flags shared by the `kit plugin` commands.
type pluginOptions struct {
	cacheDir string
	json     bool
}

// host returns a plugin host over the standard search path that keeps
// descriptions in the cache (when it can be opened).
func (o *pluginOptions) host() *plugin.Host {
	return newPluginHost(o.cacheDir)
}

func newPluginHost(cacheDir string) *plugin.Host {
	dir := cacheDir
	if dir == "" {
		dir = cache.DefaultDir()
	}
	var opts []plugin.Option
	if s, err := cache.Open(dir); err == nil {
		opts = append(opts, plugin.WithCache(s))
	}
	return plugin.NewHost(opts...)
}

func newPluginCmd() *cobra.Command {
	o := &pluginOptions{}
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "List and inspect plugins",
		Long: `Plugins are executables named kit-plugin-NAME that serve output formats
(and, later, uploaders and run backends) over kit's plugin protocol. kit looks
for them in each directory of $KIT_PLUGIN_PATH (colon-separated), then beside
the kit binary, then in the user's plugin directory ($XDG_DATA_HOME/kit/plugins,
by default ~/.local/share/kit/plugins). The first binary found for a NAME is
used; later ones are shadowed.

What a plugin serves is cached by the binary's sha256, so a plugin is only
started when a build uses it (or when it is new or changed). A build pins
each plugin it uses in the spec's lock file and refuses a changed binary
until --update-lock.`,
	}
	cmd.PersistentFlags().StringVar(&o.cacheDir, "cache", "", "cache directory (default $KIT_CACHE or the XDG cache dir)")
	cmd.PersistentFlags().BoolVar(&o.json, "json", false, "print JSON")
	cmd.AddCommand(newPluginLsCmd(o), newPluginDescribeCmd(o))
	return cmd
}

// pluginJSON is a plugin as `kit plugin ls --json` prints it.
type pluginJSON struct {
	Name       string          `json:"name"`
	Version    string          `json:"version,omitempty"`
	Protocol   int             `json:"protocol,omitempty"`
	Path       string          `json:"path"`
	Source     string          `json:"source"`
	SHA256     string          `json:"sha256,omitempty"`
	Shadowed   []string        `json:"shadowed,omitempty"`
	Error      string          `json:"error,omitempty"`
	Components []componentJSON `json:"components,omitempty"`
}

type componentJSON struct {
	Kind         string          `json:"kind"`
	Name         string          `json:"name"`
	Version      string          `json:"version"`
	Outputs      []outputJSON    `json:"outputs,omitempty"`
	Needs        []string        `json:"needs,omitempty"`
	Images       []imageJSON     `json:"images,omitempty"`
	ConfigSchema json.RawMessage `json:"configSchema,omitempty"`
	// Unusable says why kit cannot use the component.
	Unusable string `json:"unusable,omitempty"`
}

type outputJSON struct {
	Suffix    string `json:"suffix"`
	MediaType string `json:"mediaType,omitempty"`
}

type imageJSON struct {
	Name    string `json:"name"`
	Default string `json:"default"`
}

func toJSON(p *plugin.Plugin) pluginJSON {
	j := pluginJSON{Name: p.Name, Version: p.Version(), Protocol: p.Protocol(), Path: p.Path, Source: p.Source, SHA256: p.Digest.Hex(), Shadowed: p.Shadowed}
	if p.Err != nil {
		j.Error = p.Err.Error()
	}
	if p.Description == nil {
		return j
	}
	for _, c := range p.Description.Components {
		cj := componentJSON{Kind: string(c.Kind), Name: c.Name, Version: c.Version, Needs: c.Needs}
		if s := bytes.TrimSpace(c.ConfigSchema); len(s) > 0 && string(s) != "null" && json.Valid(s) {
			cj.ConfigSchema = s
		}
		for _, o := range c.Outputs {
			cj.Outputs = append(cj.Outputs, outputJSON{o.Suffix, o.MediaType})
		}
		for _, im := range c.Images {
			cj.Images = append(cj.Images, imageJSON{im.Name, im.Default})
		}
		if err, ok := p.Invalid[c.Name]; ok && c.Kind == sdk.KindFormat {
			cj.Unusable = err.Error()
		}
		j.Components = append(j.Components, cj)
	}
	return j
}

func newPluginLsCmd(o *pluginOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List the plugins kit finds, with what they serve",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h := o.host()
			defer h.Close()
			ps, err := h.Plugins(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if o.json {
				list := make([]pluginJSON, 0, len(ps))
				for _, p := range ps {
					list = append(list, toJSON(p))
				}
				return writeJSON(out, list)
			}
			if len(ps) == 0 {
				fmt.Fprintf(out, "no plugins (looked for %s* in %s)\n", plugin.BinaryPrefix, searchPathText())
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tPROTOCOL\tCOMPONENTS\tSHA256\tPATH")
			var broken []*plugin.Plugin
			for _, p := range ps {
				version, proto, comps := "?", "?", ""
				if p.Err != nil {
					comps = "(unusable, see below)"
					broken = append(broken, p)
				} else {
					version, proto, comps = p.Version(), fmt.Sprint(p.Protocol()), components(p.Description)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s (%s)\n", p.Name, version, proto, comps, p.Digest.Short(), p.Path, p.Source)
				for _, s := range p.Shadowed {
					fmt.Fprintf(tw, "\t\t\t\t\tshadows %s\n", s)
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, p := range broken {
				fmt.Fprintf(out, "\n%s: %v\n", p.Path, p.Err)
			}
			return nil
		},
	}
}

// components summarises a description: "format: a, b; upload: c".
func components(d *sdk.Description) string {
	byKind := map[sdk.Kind][]string{}
	var kinds []sdk.Kind
	for _, c := range d.Components {
		if _, ok := byKind[c.Kind]; !ok {
			kinds = append(kinds, c.Kind)
		}
		byKind[c.Kind] = append(byKind[c.Kind], c.Name)
	}
	var parts []string
	for _, k := range kinds {
		names := byKind[k]
		sort.Strings(names)
		parts = append(parts, string(k)+": "+strings.Join(names, ", "))
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, "; ")
}

func newPluginDescribeCmd(o *pluginOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a plugin's components: outputs, needs, images and config schema",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h := o.host()
			defer h.Close()
			p, err := h.Plugin(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if o.json {
				return writeJSON(out, toJSON(p))
			}
			return describePlugin(out, p)
		},
	}
}

func describePlugin(w io.Writer, p *plugin.Plugin) error {
	if p.Description != nil {
		fmt.Fprintf(w, "plugin %s %s (protocol %d)\n", p.Name, p.Version(), p.Protocol())
	} else {
		fmt.Fprintf(w, "plugin %s\n", p.Name)
	}
	fmt.Fprintf(w, "  path:    %s (%s)\n", p.Path, p.Source)
	if p.Digest != "" {
		fmt.Fprintf(w, "  sha256:  %s\n", p.Digest.Hex())
	}
	for _, s := range p.Shadowed {
		fmt.Fprintf(w, "  shadows: %s\n", s)
	}
	if p.Err != nil {
		fmt.Fprintf(w, "  error:   %v\n", p.Err)
		return nil
	}
	for _, c := range p.Description.Components {
		fmt.Fprintf(w, "\n%s %s (version %s)\n", c.Kind, c.Name, c.Version)
		if err, ok := p.Invalid[c.Name]; ok && c.Kind == sdk.KindFormat {
			fmt.Fprintf(w, "  unusable: %v\n", err)
		}
		if len(c.Outputs) > 0 {
			var outs []string
			for _, o := range c.Outputs {
				mt := o.MediaType
				if mt == "" {
					mt = format.MediaTypeBinary
				}
				outs = append(outs, fmt.Sprintf("%s (%s)", o.Suffix, mt))
			}
			fmt.Fprintf(w, "  outputs: %s\n", strings.Join(outs, ", "))
		}
		if len(c.Needs) > 0 {
			fmt.Fprintf(w, "  needs:   %s\n", strings.Join(c.Needs, ", "))
		}
		for _, im := range c.Images {
			fmt.Fprintf(w, "  image:   %s, default %s\n", im.Name, im.Default)
		}
		schema := bytes.TrimSpace(c.ConfigSchema)
		if len(schema) == 0 || string(schema) == "null" {
			fmt.Fprintln(w, "  config:  none")
			continue
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, schema, "    ", "  "); err != nil {
			buf.Reset()
			buf.Write(schema)
		}
		fmt.Fprintf(w, "  config schema:\n    %s\n", buf.String())
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func searchPathText() string {
	var s []string
	for _, d := range plugin.SearchPath() {
		s = append(s, d.Path)
	}
	return strings.Join(s, ", ")
}

// formatNames lists the formats `kit build -f` takes: the built-in ones,
// then the plugins' (from the description cache, or by starting new or
// changed plugins). A plugin format with a built-in name is not listed:
// built-in formats win.
func formatNames(ctx context.Context, cacheDir string) (builtin, plugins []string) {
	builtin = format.Names()
	h := newPluginHost(cacheDir)
	defer h.Close()
	for _, n := range h.FormatNames(ctx) {
		if _, ok := format.Lookup(n); !ok {
			plugins = append(plugins, n)
		}
	}
	return builtin, plugins
}
