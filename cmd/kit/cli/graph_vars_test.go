package cli

import (
	"slices"
	"strings"
	"testing"
)

func TestGraphVarsBecomeEnv(t *testing.T) {
	o := &graphOptions{vars: []string{"registry=127.0.0.1:5000", "greeting=a=b"}}
	env, err := o.env()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"KIT_VAR_registry=127.0.0.1:5000", "KIT_VAR_greeting=a=b"} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %s", want)
		}
	}
	// --var replaces the environment's KIT_VAR_ of the same name.
	t.Setenv("KIT_VAR_registry", "example.com")
	env, _ = o.env()
	var got []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "KIT_VAR_registry=") {
			got = append(got, kv)
		}
	}
	if !slices.Equal(got, []string{"KIT_VAR_registry=127.0.0.1:5000"}) {
		t.Errorf("KIT_VAR_registry entries: %q", got)
	}
	if _, err := (&graphOptions{vars: []string{"novalue"}}).env(); err == nil || !strings.Contains(err.Error(), "NAME=VALUE") {
		t.Errorf("--var novalue: %v", err)
	}
}
