package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitbuild/kit/sdk/internal/fsutil"
	"github.com/kitbuild/kit/sdk/internal/wire"
	"github.com/kitbuild/kit/sdk/proto/pluginv1"
)

// server implements kit's services for one Plugin.
type server struct {
	pluginv1.UnimplementedPluginServiceServer
	pluginv1.UnimplementedFormatServiceServer

	desc    *pluginv1.DescribeResponse
	formats map[string]Format
	infos   map[string]FormatInfo
	log     hclog.Logger
}

func newServer(p Plugin, log hclog.Logger) (*server, error) {
	desc, err := p.describe()
	if err != nil {
		return nil, err
	}
	s := &server{
		desc:    toProtoDescription(desc),
		formats: make(map[string]Format),
		infos:   make(map[string]FormatInfo),
		log:     log,
	}
	for _, f := range p.Formats {
		info := f.Info()
		s.formats[info.Name] = f
		s.infos[info.Name] = info
	}
	return s, nil
}

func (s *server) servers() *wire.Servers {
	return &wire.Servers{Plugin: s, Format: s}
}

// Describe implements pluginv1.PluginServiceServer.
func (s *server) Describe(context.Context, *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	return s.desc, nil
}

// Build implements pluginv1.FormatServiceServer. A panic in the format's
// Build fails the build (its stack goes to the log) instead of the process.
func (s *server) Build(ctx context.Context, in *pluginv1.BuildRequest) (resp *pluginv1.BuildResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("format panicked", "component", in.GetComponent(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp, err = nil, status.Errorf(codes.Internal, "format %s panicked: %v", in.GetComponent(), r)
		}
	}()
	f, ok := s.formats[in.GetComponent()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "plugin %s has no format %q", s.desc.GetName(), in.GetComponent())
	}
	info := s.infos[in.GetComponent()]
	// The last log line of every build call, written before the answer:
	// the host reads logs from stderr, apart from the answer, and holds the
	// call's log open until it sees this line, so no line is lost.
	defer s.log.Trace(BuildDoneMessage, "component", in.GetComponent(), BuildDoneField, in.GetScratchDir())
	req, err := s.buildRequest(info, in)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	files, err := f.Build(ctx, req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, status.FromContextError(ctxErr).Err()
		}
		return nil, status.Error(codes.Unknown, err.Error())
	}
	arts, err := describeFiles(ctx, info, req.ScratchDir, files)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "format %s: %v", info.Name, err)
	}
	return &pluginv1.BuildResponse{Artifacts: arts}, nil
}

func (s *server) buildRequest(info FormatInfo, in *pluginv1.BuildRequest) (*BuildRequest, error) {
	scratch := in.GetScratchDir()
	if !filepath.IsAbs(scratch) {
		return nil, fmt.Errorf("scratch dir %q is not an absolute path", scratch)
	}
	if fi, err := os.Stat(scratch); err != nil {
		return nil, fmt.Errorf("scratch dir: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("scratch dir %s is not a directory", scratch)
	}
	config := json.RawMessage(in.GetConfig())
	if emptyConfig(config) {
		config = nil
	}
	if config != nil && info.ConfigSchema == nil {
		return nil, fmt.Errorf("format %s takes no config", info.Name)
	}
	if config != nil && !json.Valid(config) {
		return nil, fmt.Errorf("format %s: config is not valid JSON", info.Name)
	}
	return &BuildRequest{
		Inputs:          fromProtoInputs(in.GetInputs()),
		Images:          fromProtoInputs(in.GetImages()),
		Config:          config,
		SourceDateEpoch: in.GetSourceDateEpoch(),
		ScratchDir:      scratch,
		Arch:            in.GetArch(),
		Log:             newSlog(s.log.With("component", info.Name)),
	}, nil
}

// emptyConfig reports whether a config is absent: empty, null or {}.
func emptyConfig(c json.RawMessage) bool {
	switch string(bytes.Join(bytes.Fields(c), nil)) {
	case "", "null", "{}":
		return true
	}
	return false
}

func fromProtoInputs(in map[string]*pluginv1.Input) map[string]Input {
	out := make(map[string]Input, len(in))
	for k, v := range in {
		out[k] = Input{Path: v.GetPath(), Digest: v.GetDigest(), Ref: v.GetRef()}
	}
	return out
}

// describeFiles checks that files are exactly the format's declared outputs,
// each a regular file inside scratch, and digests them.
func describeFiles(ctx context.Context, info FormatInfo, scratch string, files []File) ([]*pluginv1.Artifact, error) {
	media := make(map[string]string, len(info.Outputs))
	for _, o := range info.Outputs {
		media[o.Suffix] = o.MediaType
	}
	seen := make(map[string]bool, len(files))
	arts := make([]*pluginv1.Artifact, 0, len(files))
	for _, f := range files {
		mt, ok := media[f.Suffix]
		if !ok {
			return nil, fmt.Errorf("build returned suffix %q, which Info does not declare", f.Suffix)
		}
		if seen[f.Suffix] {
			return nil, fmt.Errorf("build returned suffix %q twice", f.Suffix)
		}
		seen[f.Suffix] = true
		path := f.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(scratch, path)
		}
		path = filepath.Clean(path)
		if !fsutil.Within(scratch, path) {
			return nil, fmt.Errorf("output %s (%s) is outside the scratch dir %s", f.Suffix, f.Path, scratch)
		}
		digest, size, err := fsutil.DigestFile(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", f.Suffix, err)
		}
		arts = append(arts, &pluginv1.Artifact{Suffix: f.Suffix, Path: path, Digest: digest, Size: size, MediaType: mt})
	}
	for _, o := range info.Outputs {
		if !seen[o.Suffix] {
			return nil, fmt.Errorf("build did not return declared output %q", o.Suffix)
		}
	}
	return arts, nil
}

// describe validates p and returns its description.
func (p Plugin) describe() (*Description, error) {
	if p.Name == "" {
		return nil, errors.New("plugin has no name")
	}
	d := &Description{Name: p.Name, Version: p.Version, Protocol: wire.Protocol}
	seen := map[Kind]map[string]bool{KindFormat: {}, KindUpload: {}, KindRun: {}}
	add := func(c Component) error {
		if c.Name == "" {
			return fmt.Errorf("plugin %s: a %s component has no name", p.Name, c.Kind)
		}
		if seen[c.Kind][c.Name] {
			return fmt.Errorf("plugin %s: two %s components named %q", p.Name, c.Kind, c.Name)
		}
		seen[c.Kind][c.Name] = true
		if c.ConfigSchema != nil {
			var v any
			if err := json.Unmarshal(c.ConfigSchema, &v); err != nil {
				return fmt.Errorf("plugin %s: %s %s: config schema: %w", p.Name, c.Kind, c.Name, err)
			}
			if _, ok := v.(map[string]any); !ok {
				if _, ok := v.(bool); !ok {
					return fmt.Errorf("plugin %s: %s %s: config schema is neither an object nor a boolean", p.Name, c.Kind, c.Name)
				}
			}
		}
		images := map[string]bool{}
		for _, im := range c.Images {
			if im.Name == "" || images[im.Name] {
				return fmt.Errorf("plugin %s: %s %s: image names must be unique and non-empty (%q)", p.Name, c.Kind, c.Name, im.Name)
			}
			images[im.Name] = true
		}
		d.Components = append(d.Components, c)
		return nil
	}
	for _, f := range p.Formats {
		info := f.Info()
		if len(info.Outputs) == 0 {
			return nil, fmt.Errorf("plugin %s: format %s declares no outputs", p.Name, info.Name)
		}
		suffixes := map[string]bool{}
		for _, o := range info.Outputs {
			if o.Suffix == "" || suffixes[o.Suffix] || strings.ContainsAny(o.Suffix, "/\\") {
				return nil, fmt.Errorf("plugin %s: format %s: output suffixes must be unique, non-empty and contain no slash (%q)", p.Name, info.Name, o.Suffix)
			}
			suffixes[o.Suffix] = true
		}
		err := add(Component{
			Kind: KindFormat, Name: info.Name, Version: info.Version, ConfigSchema: info.ConfigSchema,
			Images: info.Images, Outputs: info.Outputs, Needs: info.Needs,
		})
		if err != nil {
			return nil, err
		}
	}
	for _, u := range p.Uploads {
		info := u.Info()
		if err := add(Component{Kind: KindUpload, Name: info.Name, Version: info.Version, ConfigSchema: info.ConfigSchema, Images: info.Images}); err != nil {
			return nil, err
		}
	}
	for _, r := range p.Runs {
		info := r.Info()
		if err := add(Component{Kind: KindRun, Name: info.Name, Version: info.Version, ConfigSchema: info.ConfigSchema, Images: info.Images}); err != nil {
			return nil, err
		}
	}
	return d, nil
}
