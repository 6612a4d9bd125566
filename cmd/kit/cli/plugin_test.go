package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1": 1, "512B": 512, "2G": 2 << 30, "2g": 2 << 30, "2GiB": 2 << 30, "2GB": 2 << 30, "100M": 100 << 20,
		"3 K": 3 << 10, "1T": 1 << 40,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "2X", "2iB", "-1", "0", "1.5G", "99999999999999T", "2GG"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"2G", "512", "1KiB", "x", "9223372036854775807", "4096T"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err == nil && n <= 0 {
			t.Fatalf("parseSize(%q) = %d without error", s, n)
		}
	})
}

func TestParseFormatConfigs(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(file, []byte(`{"diskSize": 1}`), 0o644)
	got, err := parseFormatConfigs([]string{`raw-efi={"a":1}`, "qcow2-efi=@" + file})
	if err != nil || string(got["raw-efi"]) != `{"a":1}` || string(got["qcow2-efi"]) != `{"diskSize": 1}` {
		t.Errorf("parseFormatConfigs = %v, %v", got, err)
	}
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"raw-efi"}, "want FORMAT=JSON"},
		{[]string{"=x"}, "want FORMAT=JSON"},
		{[]string{"a=[1]"}, "want a JSON object"},
		{[]string{"a={"}, "want a JSON object"},
		{[]string{"a=null"}, "want a JSON object"},
		{[]string{"a={}", "a={}"}, "given twice"},
		{[]string{"a=@/nonexistent/x.json"}, "no such file"},
	} {
		if _, err := parseFormatConfigs(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.in, err, tc.want)
		}
	}
}
