package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/kitbuild/kit/sdk/proto/pluginv1"
)

type infoFormat FormatInfo

func (f infoFormat) Info() FormatInfo { return FormatInfo(f) }
func (infoFormat) Build(context.Context, *BuildRequest) ([]File, error) {
	return nil, nil
}

type infoUpload UploadInfo

func (u infoUpload) Info() UploadInfo { return UploadInfo(u) }

func TestPluginValidation(t *testing.T) {
	out := []Output{{Suffix: ".img", MediaType: "application/octet-stream"}}
	tests := []struct {
		name string
		p    Plugin
		err  string
	}{
		{"ok", Plugin{Name: "p", Formats: []Format{infoFormat{Name: "a", Outputs: out}}, Uploads: []Uploader{infoUpload{Name: "a"}}}, ""},
		{"no name", Plugin{}, "no name"},
		{"format without name", Plugin{Name: "p", Formats: []Format{infoFormat{Outputs: out}}}, "has no name"},
		{"format without outputs", Plugin{Name: "p", Formats: []Format{infoFormat{Name: "a"}}}, "declares no outputs"},
		{"duplicate formats", Plugin{Name: "p", Formats: []Format{infoFormat{Name: "a", Outputs: out}, infoFormat{Name: "a", Outputs: out}}}, `two format components named "a"`},
		{"duplicate suffix", Plugin{Name: "p", Formats: []Format{infoFormat{Name: "a", Outputs: append(out, out...)}}}, "suffixes must be unique"},
		{"slash in suffix", Plugin{Name: "p", Formats: []Format{infoFormat{Name: "a", Outputs: []Output{{Suffix: "/x"}}}}}, "no slash"},
		{"schema not JSON", Plugin{Name: "p", Formats: []Format{infoFormat{Name: "a", Outputs: out, ConfigSchema: json.RawMessage("{")}}}, "config schema"},
		{"schema a string", Plugin{Name: "p", Formats: []Format{infoFormat{Name: "a", Outputs: out, ConfigSchema: json.RawMessage(`"x"`)}}}, "neither an object nor a boolean"},
		{"duplicate image", Plugin{Name: "p", Formats: []Format{infoFormat{Name: "a", Outputs: out, Images: []Image{{Name: "i"}, {Name: "i"}}}}}, "image names"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.p.describe()
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestDescribeFiles(t *testing.T) {
	scratch := t.TempDir()
	outside := t.TempDir()
	write := func(dir, name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write(scratch, "a", "abc")
	b := write(scratch, "b", "")
	out := write(outside, "o", "x")
	if err := os.Symlink(a, filepath.Join(scratch, "link")); err != nil {
		t.Fatal(err)
	}
	info := FormatInfo{Name: "f", Outputs: []Output{{Suffix: ".a", MediaType: "text/a"}, {Suffix: ".b", MediaType: "text/b"}}}
	tests := []struct {
		name  string
		files []File
		err   string
	}{
		{"ok", []File{{".a", a}, {".b", "b"}}, ""},
		{"undeclared", []File{{".a", a}, {".b", b}, {".c", b}}, "does not declare"},
		{"twice", []File{{".a", a}, {".a", a}}, "twice"},
		{"missing", []File{{".a", a}}, `declared output ".b"`},
		{"outside", []File{{".a", a}, {".b", out}}, "outside the scratch dir"},
		{"dotdot", []File{{".a", a}, {".b", "../o"}}, "outside the scratch dir"},
		{"symlink", []File{{".a", a}, {".b", "link"}}, "not a regular file"},
		{"absent", []File{{".a", a}, {".b", "nope"}}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arts, err := describeFiles(context.Background(), info, scratch, tt.files)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if arts[0].Digest != "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" || arts[0].Size != 3 ||
				arts[0].MediaType != "text/a" || arts[1].Path != b || arts[1].MediaType != "text/b" {
				t.Errorf("artifacts %v", arts)
			}
		})
	}
}

// TestSlogToHclog: what an author logs with slog arrives as hclog JSON,
// the form go-plugin forwards to the host.
func TestSlogToHclog(t *testing.T) {
	var buf bytes.Buffer
	hl := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: &buf, JSONFormat: true})
	l := newSlog(hl).With("component", "c").WithGroup("g")
	l.Info("hello", "n", 1, slog.Group("h", "k", "v"))
	l.Log(context.Background(), slog.LevelDebug-4, "very fine")
	l.Error("bad", "err", os.ErrNotExist)
	var lines []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("lines %v", lines)
	}
	if m := lines[0]; m["@level"] != "info" || m["@message"] != "hello" || m["component"] != "c" || m["g.n"] != 1.0 || m["g.h.k"] != "v" {
		t.Errorf("info line %v", m)
	}
	if lines[1]["@level"] != "trace" {
		t.Errorf("trace line %v", lines[1])
	}
	if m := lines[2]; m["@level"] != "error" || m["g.err"] != "file does not exist" {
		t.Errorf("error line %v", m)
	}
}

func TestBuildRequestConfig(t *testing.T) {
	s := &server{log: hclog.NewNullLogger()}
	noSchema := FormatInfo{Name: "f"}
	withSchema := FormatInfo{Name: "f", ConfigSchema: json.RawMessage(`{"type":"object"}`)}
	tests := []struct {
		name   string
		info   FormatInfo
		config string
		want   string // the config Build sees
		err    string
	}{
		{"none", noSchema, "", "", ""},
		{"null", noSchema, "null", "", ""},
		{"empty object", noSchema, " { } ", "", ""},
		{"config without schema", noSchema, `{"a":1}`, "", "takes no config"},
		{"config", withSchema, `{"a":1}`, `{"a":1}`, ""},
		{"not JSON", withSchema, `{"a"`, "", "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := s.buildRequest(tt.info, &pluginv1.BuildRequest{Config: []byte(tt.config), ScratchDir: t.TempDir()})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || string(req.Config) != tt.want {
				t.Fatalf("config %q %v, want %q", req.Config, err, tt.want)
			}
		})
	}
	if _, err := s.buildRequest(withSchema, &pluginv1.BuildRequest{ScratchDir: "relative"}); err == nil {
		t.Error("a relative scratch dir was accepted")
	}
}
