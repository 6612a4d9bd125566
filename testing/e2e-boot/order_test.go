package e2eboot

import (
	"reflect"
	"testing"
)

func TestMissingInOrder(t *testing.T) {
	console := "boot\r\na: starting\nkit:/# a: exit 0\nb: starting\n"
	for _, tc := range []struct {
		name  string
		lines []string
		want  []string
	}{
		{"in order", []string{"a: starting", "a: exit 0", "b: starting"}, nil},
		{"shell prompt on the line", []string{"a: exit 0"}, nil},
		{"out of order", []string{"b: starting", "a: exit 0"}, []string{`missing (in order): "a: exit 0"`}},
		{"absent", []string{"a: starting", "c"}, []string{`missing (in order): "c"`}},
		{"one line matches once", []string{"a: starting", "a: starting"}, []string{`missing (in order): "a: starting"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := missingInOrder(console, tc.lines); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("missingInOrder = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCapMask(t *testing.T) {
	got, err := capMask([]string{"CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE"})
	if err != nil || got != "00000000000004c3" {
		t.Errorf("capMask = %q, %v; want 00000000000004c3", got, err)
	}
	if _, err := capMask([]string{"CAP_BOGUS"}); err == nil {
		t.Error("capMask(CAP_BOGUS): want an error")
	}
}
