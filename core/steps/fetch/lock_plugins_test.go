package fetch

import (
	"errors"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/graph"
)

func TestLockPlugins(t *testing.T) {
	l := NewLock()
	l.Record("redis:7", dA, "application/vnd.oci.image.manifest.v1+json", "", "")
	l.SetPlugin(PluginPin{Name: "zeta", Digest: dB})
	l.SetPlugin(PluginPin{Name: "hello", Digest: dA, Version: "1.2.0", Protocol: 1})
	b, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := "plugins:\n  - name: hello\n    sha256: " + string(dA) + "\n    version: 1.2.0\n    protocol: 1\n  - name: zeta\n    sha256: " + string(dB) + "\n"
	if !strings.HasSuffix(string(b), want) {
		t.Errorf("marshal:\n%s\nwant it to end with\n%s", b, want)
	}
	l2, err := ParseLock(b)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := l2.Plugin("hello"); !ok || p.Digest != dA || p.Version != "1.2.0" || p.Protocol != 1 {
		t.Errorf("hello = %+v, %v", p, ok)
	}
	if got := l2.Plugins(); len(got) != 2 || got[0].Name != "hello" || got[1].Name != "zeta" {
		t.Errorf("Plugins = %+v", got)
	}
	// Retain drops images, never plugin pins.
	l2.Retain()
	if len(l2.Refs()) != 0 || len(l2.Plugins()) != 2 {
		t.Errorf("after Retain: refs %v, plugins %v", l2.Refs(), l2.Plugins())
	}
	// A lock without plugins has no plugins key (older files stay as they are).
	if b, _ := NewLock().Marshal(); strings.Contains(string(b), "plugins") {
		t.Errorf("empty lock mentions plugins:\n%s", b)
	}
}

func TestParseLockPluginErrors(t *testing.T) {
	head := "version: 1\nimages: []\nplugins:\n"
	pin := func(name string, d graph.Digest) string {
		return "  - name: " + name + "\n    sha256: " + string(d) + "\n"
	}
	for _, tc := range []struct {
		name, in, want string
		line           int
	}{
		{"duplicate", head + pin("hello", dA) + pin("hello", dB), "plugin hello is locked twice", 6},
		{"bad digest", head + pin("hello", "sha256:abc"), "want 64 hex digits", 4},
		{"bad name", head + pin("Hello", dA), `plugin name "Hello"`, 4},
		{"empty name", head + "  - sha256: " + string(dA) + "\n", "empty plugin name", 4},
		{"unknown field", head + pin("hello", dA) + "    path: /x\n", "field path not found", 0},
	} {
		_, err := ParseLock([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
			continue
		}
		var le *LockError
		if !errors.As(err, &le) {
			t.Errorf("%s: %T is not a *LockError", tc.name, err)
		} else if le.Line != tc.line {
			t.Errorf("%s: line %d, want %d (%v)", tc.name, le.Line, tc.line, err)
		}
	}
}

func TestValidPluginName(t *testing.T) {
	for name, ok := range map[string]bool{
		"hello": true, "format-disk": true, "a1.b_c": true, "9x": true,
		"": false, "-x": false, "A": false, "a/b": false, "a b": false, "ü": false,
	} {
		if err := ValidPluginName(name); (err == nil) != ok {
			t.Errorf("ValidPluginName(%q) = %v", name, err)
		}
	}
}
