package spec

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// entry decodes one service entry from YAML.
func entry(t *testing.T, src string) *Image {
	t.Helper()
	s := mustDecode(t, "spec.yml", "services:\n  - name: svc\n    image: example/svc:v1\n"+src)
	return s.Services[0]
}

func TestMergeLabelPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		spec  string // extra YAML lines of the entry, indented by 4
		label string
		check func(t *testing.T, got *Image)
	}{
		{
			name:  "label fills what the spec leaves unset",
			label: `{"command":["/bin/sshd","-D"],"env":["A=1"],"cwd":"/srv","net":"host","readonly":true,"oomScoreAdj":-100,"uid":0,"sysctl":{"a.b":"1"}}`,
			check: func(t *testing.T, got *Image) {
				want := &Image{Name: "svc", Image: "example/svc:v1",
					Command: &[]string{"/bin/sshd", "-D"}, Env: &[]string{"A=1"}, Cwd: "/srv", Net: "host",
					Readonly: ptr(true), OOMScoreAdj: ptr(-100), UID: NumericID(0), Sysctl: &map[string]string{"a.b": "1"}}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got %s\nwant %s", dump(got), dump(want))
				}
			},
		},
		{
			name:  "spec wins for every field it sets",
			spec:  "    command: [/bin/true]\n    env: []\n    cwd: /\n    net: new\n    readonly: false\n    uid: daemon\n    sysctl: {c.d: \"2\"}\n",
			label: `{"command":["/bin/sshd"],"env":["A=1"],"cwd":"/srv","net":"host","readonly":true,"uid":0,"sysctl":{"a.b":"1"},"hostname":"lbl"}`,
			check: func(t *testing.T, got *Image) {
				want := &Image{Name: "svc", Image: "example/svc:v1",
					Command: &[]string{"/bin/true"}, Env: &[]string{}, Cwd: "/", Net: "new",
					Readonly: ptr(false), UID: NamedID("daemon"), Sysctl: &map[string]string{"c.d": "2"}, Hostname: "lbl"}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got %s\nwant %s", dump(got), dump(want))
				}
			},
		},
		{
			name:  "capabilities.add adds to the label's capabilities",
			spec:  "    capabilities.add: [CAP_SYS_ADMIN, CAP_NET_ADMIN]\n",
			label: `{"capabilities":["CAP_NET_ADMIN","CAP_CHOWN"]}`,
			check: wantCaps("CAP_NET_ADMIN", "CAP_CHOWN", "CAP_SYS_ADMIN"),
		},
		{
			name:  "spec capabilities replace the label's",
			spec:  "    capabilities: [CAP_KILL]\n",
			label: `{"capabilities":["CAP_NET_ADMIN"]}`,
			check: wantCaps("CAP_KILL"),
		},
		{
			name:  "capabilities.add also applies to the spec's own capabilities",
			spec:  "    capabilities: [CAP_KILL]\n    capabilities.add: [CAP_CHOWN]\n",
			label: `{"capabilities":["CAP_NET_ADMIN"]}`,
			check: wantCaps("CAP_KILL", "CAP_CHOWN"),
		},
		{
			name:  "a lone all absorbs additions",
			spec:  "    capabilities.add: [CAP_CHOWN]\n",
			label: `{"capabilities":["all"]}`,
			check: wantCaps("all"),
		},
		{
			name:  "a lone none is replaced by additions",
			spec:  "    capabilities.add: [CAP_CHOWN]\n",
			label: `{"capabilities":["none"]}`,
			check: wantCaps("CAP_CHOWN"),
		},
		{
			name:  "the label's own capabilities.add counts",
			label: `{"capabilities":["CAP_KILL"],"capabilities.add":["CAP_CHOWN"]}`,
			check: wantCaps("CAP_KILL", "CAP_CHOWN"),
		},
		{
			name:  "no capabilities anywhere stays unset",
			label: `{"net":"host"}`,
			check: func(t *testing.T, got *Image) {
				if got.Capabilities != nil || got.CapabilitiesAdd != nil {
					t.Errorf("capabilities = %v", got.Capabilities)
				}
			},
		},
		{
			name:  "binds.add merges with the label's binds",
			spec:  "    binds.add: [/root/.ssh:/root/.ssh, /dev:/dev]\n",
			label: `{"binds":["/dev:/dev","/etc/ssh:/etc/ssh:ro"]}`,
			check: wantBinds("/dev:/dev", "/etc/ssh:/etc/ssh:ro", "/root/.ssh:/root/.ssh"),
		},
		{
			name:  "binds replace the label's; binds.add merges with them",
			spec:  "    binds: [/var:/var]\n    binds.add: [/run:/run]\n",
			label: `{"binds":["/dev:/dev"],"binds.add":["/tmp:/tmp"]}`,
			check: wantBinds("/var:/var", "/run:/run"),
		},
		{
			name:  "the label's own binds.add counts",
			label: `{"binds":["/dev:/dev"],"binds.add":["/tmp:/tmp"]}`,
			check: wantBinds("/dev:/dev", "/tmp:/tmp"),
		},
		{
			name:  "runtime merges field by field",
			spec:  "    runtime:\n      mkdir: [/var/spec]\n      bindNS:\n        net: /run/netns/spec\n",
			label: `{"runtime":{"mkdir":["/var/label"],"cgroups":["lbl"],"bindNS":{"net":"/run/netns/label","ipc":"/run/ipc/label"},"namespace":"ns"}}`,
			check: func(t *testing.T, got *Image) {
				want := &Runtime{Mkdir: &[]string{"/var/spec"}, Cgroups: &[]string{"lbl"}, Namespace: ptr("ns"),
					BindNS: &Namespaces{Net: ptr("/run/netns/spec"), Ipc: ptr("/run/ipc/label")}}
				if !reflect.DeepEqual(got.Runtime, want) {
					t.Errorf("runtime = %s\nwant %s", dump(got.Runtime), dump(want))
				}
			},
		},
		{
			name: "an empty label leaves the entry, resolved",
			spec: "    capabilities.add: [CAP_CHOWN]\n    binds.add: [/a:/a]\n",
			check: func(t *testing.T, got *Image) {
				want := &Image{Name: "svc", Image: "example/svc:v1", Capabilities: &[]string{"CAP_CHOWN"}, Binds: &[]string{"/a:/a"}}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got %s\nwant %s", dump(got), dump(want))
				}
			},
		},
		{
			name:  "tab-indented JSON",
			label: "{\n\t\"net\": \"host\",\n\t\"pid\": \"host\"\n}\n",
			check: func(t *testing.T, got *Image) {
				if got.Net != "host" || got.Pid != "host" {
					t.Errorf("net/pid = %q/%q", got.Net, got.Pid)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := entry(t, tt.spec)
			before := dump(e)
			got, err := MergeLabel(e, []byte(tt.label), "")
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, got)
			if got.CapabilitiesAdd != nil || got.BindsAdd != nil {
				t.Errorf("result is not resolved: capabilities.add %v, binds.add %v", got.CapabilitiesAdd, got.BindsAdd)
			}
			if dump(e) != before {
				t.Errorf("MergeLabel modified the entry:\n%s\nwas\n%s", dump(e), before)
			}
		})
	}
}

func TestMergeLabelSharesNothing(t *testing.T) {
	e := entry(t, "    command: [/bin/a]\n    uid: 5\n    resources:\n      memory:\n        limit: 10\n")
	got, err := MergeLabel(e, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	(*got.Command)[0] = "changed"
	*got.UID.Number = 6
	*got.Resources.Memory.Limit = 11
	if (*e.Command)[0] != "/bin/a" || *e.UID.Number != 5 || *e.Resources.Memory.Limit != 10 {
		t.Error("the result shares memory with the entry")
	}
}

func TestMergeLabelErrors(t *testing.T) {
	const src = "docker.io/example/svc:v1@sha256:abc"
	const at = src + " label org.mobyproject.config"
	tests := []struct {
		name  string
		label string
		want  string
	}{
		{"sets name", `{"name":"x"}`, at + `:1:9: name: a label must not set name`},
		{"sets image", `{"net":"host","image":"x"}`, at + `:1:23: image: a label must not set image`},
		{"unknown field", `{"capabilities":[],"frob":1}`, at + `:1:20: unknown key "frob" at the top level; allowed:`},
		{"wrong case", `{"Capabilities":["CAP_CHOWN"]}`, at + `:1:2: unknown key "Capabilities" at the top level (did you mean "capabilities"?)`},
		{"wrong type", `{"capabilities":"CAP_CHOWN"}`, at + `:1:17: capabilities: want a list of strings, got the string "CAP_CHOWN"`},
		{"invalid value", `{"capabilities":["CAP_NOPE"]}`, at + `:1:18: capabilities[0]: unknown capability "CAP_NOPE"`},
		{"bad bind", `{"binds":["/x"]}`, at + `:1:11: binds[0]: bind "/x": want source:destination[:options]`},
		{"not an object", `["net"]`, at + `:1:1: want a JSON object, got a list`},
		{"invalid JSON", `{"net":}`, at + `: invalid JSON: invalid character '}'`},
		{"duplicate key", `{"net":"host","net":"new"}`, at + `:1:15: duplicate key "net" in the top level (first at line 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MergeLabel(entry(t, ""), []byte(tt.label), src)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got  %v\nwant %s...", err, tt.want)
			}
		})
	}
	// Without a source, the entry's image names the label.
	_, err := MergeLabel(entry(t, ""), []byte(`{"x":1}`), "")
	if err == nil || !strings.HasPrefix(err.Error(), "example/svc:v1 label org.mobyproject.config:1:2: ") {
		t.Errorf("got %v", err)
	}
}

func wantCaps(caps ...string) func(*testing.T, *Image) {
	return func(t *testing.T, got *Image) {
		t.Helper()
		if got.Capabilities == nil || !reflect.DeepEqual(*got.Capabilities, caps) {
			t.Errorf("capabilities = %s, want %v", dump(got.Capabilities), caps)
		}
	}
}

func wantBinds(binds ...string) func(*testing.T, *Image) {
	return func(t *testing.T, got *Image) {
		t.Helper()
		if got.Binds == nil || !reflect.DeepEqual(*got.Binds, binds) {
			t.Errorf("binds = %s, want %v", dump(got.Binds), binds)
		}
	}
}

// dump prints a value as JSON, for comparisons and messages.
func dump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
