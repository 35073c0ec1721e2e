package policy

import (
	"context"
	"strings"
	"testing"
)

func compile(t testing.TB, files map[string]string) (*Set, error) {
	t.Helper()
	var mods []Module
	for p, src := range files {
		mods = append(mods, Module{Path: p, Source: []byte(src)})
	}
	return Compile(context.Background(), mods)
}

func eval(t *testing.T, s *Set, plan string) Result {
	t.Helper()
	in, err := NewInput(jsonDoc(t, plan))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Eval(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestDenyAndWarn(t *testing.T) {
	s, err := compile(t, map[string]string{
		"policies/a.rego": "package stagebot\n\ndeny contains sprintf(\"%s is destroyed\", [rc.address]) if {\n\tsome rc in input.resource_changes\n\t\"delete\" in rc.change.actions\n}\n",
		"policies/b.rego": "package stagebot\n\nwarn contains \"big plan\" if count(input.resource_changes) > 1\n\ndeny contains {\"code\": 7} if input.format_version == \"odd\"\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	res := eval(t, s, `{"format_version":"odd","resource_changes":[{"address":"a.x","change":{"actions":["delete"]}},{"address":"a.y","change":{"actions":["delete","create"]}},{"address":"a.z","change":{"actions":["create"]}}]}`)
	if got := strings.Join(res.Deny, "|"); got != `a.x is destroyed|a.y is destroyed|{"code":7}` {
		t.Errorf("deny = %q", got)
	}
	if len(res.Warn) != 1 || res.Warn[0] != "big plan" {
		t.Errorf("warn = %q", res.Warn)
	}
	if res := eval(t, s, `{"resource_changes":[{"address":"a.z","change":{"actions":["create"]}}]}`); res.Denied() || len(res.Warn) != 0 {
		t.Errorf("a harmless plan: %+v", res)
	}
}

// Broken policies are refused with the file and line; so are policies of
// another package (they would never be evaluated) and built-ins that reach
// the network or the bot's environment.
func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"syntax", "package stagebot\n\ndeny contains msg if {\n\tmsg := \n}\n", []string{"policies/x.rego:", "rego_parse_error"}},
		{"package", "package main\n\ndeny contains \"x\" if true\n", []string{"policies/x.rego:1", "package main", "package stagebot"}},
		{"env", "package stagebot\n\ndeny contains msg if {\n\tmsg := sprintf(\"%v\", [opa.runtime().env])\n}\n", []string{"policies/x.rego:4", "opa.runtime"}},
		{"network", "package stagebot\n\ndeny contains msg if {\n\tr := http.send({\"method\": \"get\", \"url\": \"http://example.com\"})\n\tmsg := r.body\n}\n", []string{"policies/x.rego:4", "http.send"}},
		{"unsafe var", "package stagebot\n\ndeny contains msg if true\n", []string{"policies/x.rego:3", "msg"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compile(t, map[string]string{"policies/x.rego": tc.src})
			if err == nil {
				t.Fatal("compiled")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
	if _, err := Compile(context.Background(), nil); err == nil {
		t.Error("no files compiled")
	}
}

// An evaluation that errs (a built-in on bad input) is an error, not a
// silent pass.
func TestEvalErrorIsNotAPass(t *testing.T) {
	s, err := compile(t, map[string]string{"p.rego": "package stagebot\n\ndeny contains \"bad values\" if {\n\tsome v in input.values\n\tyaml.unmarshal(v).x == 1\n}\n"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewInput(jsonDoc(t, `{"values":["a: [1"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Eval(context.Background(), in); err == nil {
		t.Error("invalid YAML evaluated without an error")
	}
}
