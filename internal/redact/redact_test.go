package redact

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		name        string
		values      []string
		credentials []string
		in, want    string
	}{
		{"longest first", []string{"admin-pw", "admin-pw-Pa55-word-XYZ"}, nil,
			"user admin-pw pass admin-pw-Pa55-word-XYZ", "user (redacted) pass (redacted)"},
		{"short values are not secrets", []string{"1", "5432", "true", "admin"}, nil,
			"max = 21, port 5432, enabled = true, user admin", "max = 21, port 5432, enabled = true, user admin"},
		{"short credentials are", nil, []string{"xyz9"}, "token=xyz9;", "token=(redacted);"},
		{"a value in a longer word", []string{"hunter2-sensitive"}, nil, "pw=hunter2-sensitive-and-more", "pw=(redacted)-and-more"},
		{"each line of a multi-line value", []string{"-----BEGIN KEY-----\nMIIEowIBAAKCAQEA1\n  c2VjcmV0LWxpbmUtdHdv\n-----END KEY-----"}, nil,
			"key:\n    MIIEowIBAAKCAQEA1\n    c2VjcmV0LWxpbmUtdHdv\n-----BEGIN KEY-----",
			"key:\n    (redacted)\n    (redacted)\n-----BEGIN KEY-----"},
		{"JSON-escaped newlines", []string{"line-one-aaaa\nline-two-bbbb"}, nil,
			`{"kubeconfig":"line-one-aaaa\nline-two-bbbb"}`, `{"kubeconfig":"(redacted)"}`},
		{"surrounding space is not part of it", []string{"  spaced-secret-1  "}, nil, "x=spaced-secret-1.", "x=(redacted)."},
		{"nothing to redact", nil, nil, "plain", "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.values...)
			s.AddCredentials(tt.credentials...)
			if got := s.Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
	var nilSet *Set
	if nilSet.Redact("x") != "x" || nilSet.With("abcdefghij").Redact("abcdefghij") != Mask {
		t.Error("a nil set redacts nothing and can be extended")
	}
}

// With leaves its receiver alone: one stage's values do not leak into the
// set another stage renders with... nor out of it.
func TestWithDoesNotChangeTheSet(t *testing.T) {
	base := New("base-secret-1")
	more := base.With("stage-secret-2")
	if base.Redact("stage-secret-2") != "stage-secret-2" || more.Redact("base-secret-1 stage-secret-2") != "(redacted) (redacted)" {
		t.Error("With changed its receiver, or lost a value")
	}
}

func TestWriterRedactsAcrossWrites(t *testing.T) {
	s := New("split-across-writes-secret")
	var out bytes.Buffer
	w := s.Writer(&out)
	for _, chunk := range []string{"a line with split-acr", "oss-wri", "tes-secret in it\nand a tail split-across-", "writes-secret"} {
		w.Write([]byte(chunk))
	}
	if strings.Contains(out.String(), "tail") {
		t.Error("an unfinished line was passed on before its end")
	}
	w.Close()
	if got, want := out.String(), "a line with (redacted) in it\nand a tail (redacted)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// A line without end (a progress bar) is passed on past a bound, and a
	// secret across the cut is still whole.
	out.Reset()
	w = s.Writer(&out)
	long := strings.Repeat("=", maxHeld-10) + "split-across-writes-secret" + strings.Repeat("=", 100)
	w.Write([]byte(long))
	if out.Len() == 0 {
		t.Error("nothing of a long unfinished line was passed on")
	}
	w.Close()
	if strings.Contains(out.String(), "split-acr") || !strings.Contains(out.String(), Mask) {
		t.Errorf("the secret in a long line was cut: %q", out.String()[maxHeld-40:])
	}
}

// An upstream stage's sensitive output read through terraform_remote_state
// and put into a resource with nonsensitive(): the plan JSON marks it
// nowhere (the bot adds the upstream's outputs, see workflow), but a data
// source's own sensitive attributes in prior_state, and resources'
// sensitive attributes, are found.
func TestPlanValues(t *testing.T) {
	var p tfjson.Plan
	b, err := os.ReadFile("testdata/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	// A sensitive variable, laundered by nonsensitive() or not, and one
	// that is not sensitive.
	if p.Config == nil || p.Config.RootModule == nil {
		p.Config = &tfjson.Config{RootModule: &tfjson.ConfigModule{}}
	}
	if p.Config.RootModule.Variables == nil {
		p.Config.RootModule.Variables = map[string]*tfjson.ConfigVariable{}
	}
	p.Config.RootModule.Variables["db_password"] = &tfjson.ConfigVariable{Sensitive: true}
	p.Config.RootModule.Variables["region"] = &tfjson.ConfigVariable{}
	p.Variables = map[string]*tfjson.PlanVariable{"db_password": {Value: "sensitive-variable-secret"}, "region": {Value: "platform-cluster"}}
	got := New(PlanValues(&p)...)
	for _, v := range []string{"data-source-kubeconfig-secret", "resource-after-secret", "sensitive-output-secret", "module-resource-secret", "sensitive-variable-secret"} {
		if got.Redact(v) != Mask {
			t.Errorf("%s is not among the plan's sensitive values", v)
		}
	}
	for _, v := range []string{"not-a-secret-id", "platform-cluster"} {
		if got.Redact(v) != v {
			t.Errorf("%s is redacted, but nothing marks it sensitive", v)
		}
	}
}

// maskedAt reports whether out[i:j] overlaps a mask.
func maskedAt(out string, i, j int) bool {
	for k := 0; ; {
		m := strings.Index(out[k:], Mask)
		if m < 0 {
			return false
		}
		m += k
		if m < j && m+len(Mask) > i {
			return true
		}
		k = m + 1
	}
}

// survives reports a secret in out that is not made of a mask's edge.
func survives(out string, secret string) bool {
	for k := 0; ; {
		i := strings.Index(out[k:], secret)
		if i < 0 {
			return false
		}
		i += k
		if !maskedAt(out, i, i+len(secret)) {
			return true
		}
		k = i + 1
	}
}

// FuzzRedact: no secret survives redaction, whole or written in pieces,
// and nothing panics.
func FuzzRedact(f *testing.F) {
	f.Add("admin-pw", "admin-pw-Pa55-word", "user admin-pw pass admin-pw-Pa55-word", uint8(3))
	f.Add("aaaaaaaa", "aaaaaaaab", "aaaaaaaaaaaaaaaab\naaaaaaaa", uint8(1))
	f.Add("line-one-aaaa\nline-two", "x", "line-one-aaaa line-two", uint8(7))
	f.Fuzz(func(t *testing.T, a, b, text string, chunk uint8) {
		s := New(a, b)
		out := s.Redact(text)
		for _, v := range []string{strings.TrimSpace(a), strings.TrimSpace(b)} {
			if len(v) >= MinValueLen && survives(out, v) {
				t.Fatalf("%q survives in %q", v, out)
			}
		}
		var buf bytes.Buffer
		w := s.Writer(&buf)
		size := int(chunk%16) + 1
		for i := 0; i < len(text); i += size {
			w.Write([]byte(text[i:min(len(text), i+size)]))
		}
		w.Close()
		for _, v := range []string{strings.TrimSpace(a), strings.TrimSpace(b)} {
			if len(v) >= MinValueLen && !strings.Contains(v, "\n") && survives(buf.String(), v) {
				t.Fatalf("%q survives the writer in %q", v, buf.String())
			}
		}
	})
}
