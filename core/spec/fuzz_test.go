package spec

import (
	"os"
	"reflect"
	"testing"
)

func addSeeds(f *testing.F) {
	for _, file := range []string{"../../examples/minimal.yml", "../../examples/redis-os.yml", "../../examples/sshd.yml", "testdata/full.yml"} {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "{}", "kernel: {image: a}\n", "init: &x [*x]\n", "files:\n  - path: a\n    mode: 0644\n",
		"services:\n  - <<: {name: a, image: b}\n    uid: 1\n", "kernel:\n\timage: a\n", "a: b: c\n",
		"services: [{name: a, image: b, additionalGids: [1, x], sysctl: {a: b}}]\n",
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecode checks that no input crashes the decoder, and that whatever
// decodes also validates without crashing and survives a canonical round
// trip unchanged.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode("fuzz.yml", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		_ = s.Validate()
		_ = s.Warnings()
		if _, err := Merge(s, s); err != nil && len(s.Services)+len(s.Volumes) == 0 {
			t.Fatalf("Merge of a spec without names failed: %v", err)
		}
		for _, format := range []string{"yaml", "json"} {
			out, err := s.Encode(format)
			if err != nil {
				t.Fatalf("Encode(%s): %v", format, err)
			}
			back, err := Decode("encoded", out)
			if err != nil {
				t.Fatalf("%s encoding does not decode: %v\n%s", format, err, out)
			}
			if !reflect.DeepEqual(withoutSources(back), withoutSources(s)) {
				t.Fatalf("%s round trip differs:\n%s\nwas\n%s", format, dump(back), dump(s))
			}
		}
	})
}

// FuzzMergeLabel checks that no label crashes the label decoder or the
// merge, and that the merge never modifies the entry.
func FuzzMergeLabel(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"capabilities":["all"],"binds":["/a:/a"]}`, `{"net":"host","runtime":{"bindNS":{"net":"/x"}}}`,
		`{"capabilities.add":["CAP_CHOWN"],"binds.add":["/b:/b:ro"],"uid":1,"additionalGids":[1,"x"]}`,
		`[1]`, `{"name":"x"}`, `{"x":`, "{\n\t\"pid\": \"host\"\n}",
	} {
		f.Add([]byte(s))
	}
	e := &Image{Name: "svc", Image: "example/svc:v1", CapabilitiesAdd: &[]string{"CAP_KILL"}, Binds: &[]string{"/c:/c"}}
	before := dump(e)
	f.Fuzz(func(t *testing.T, label []byte) {
		got, err := MergeLabel(e, label, "fuzz")
		if dump(e) != before {
			t.Fatal("MergeLabel modified the entry")
		}
		if err != nil {
			return
		}
		if got.Name != e.Name || got.Image != e.Image || got.CapabilitiesAdd != nil || got.BindsAdd != nil {
			t.Fatalf("bad merge result %s", dump(got))
		}
	})
}
