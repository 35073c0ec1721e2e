package web

import "testing"

// Where a login or a form sends the browser next stays on the dashboard,
// whatever next= or back= an attacker's link carries.
func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/repos/acme/platform/pulls/1": "/repos/acme/platform/pulls/1",
		"/runs/ab12?x=1":               "/runs/ab12?x=1",
		"":                             "/",
		"https://evil.example/":        "/",
		"//evil.example/":              "/",
		"/\\evil.example/":             "/",
		"javascript:alert(1)":          "/",
		"runs/ab12":                    "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
