package command

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		line    string
		want    Command
		usage   string // substring of the UsageError; "" means none
		ignored bool   // ErrNotCommand
	}{
		{line: "/plan", want: Command{Name: "plan"}},
		{line: "  /plan   platform   tenant  ", want: Command{Name: "plan", Stages: []string{"platform", "tenant"}}},
		{line: "/apply\tinfrastructure", want: Command{Name: "apply", Stages: []string{"infrastructure"}}},
		{line: "/apply platform platform", want: Command{Name: "apply", Stages: []string{"platform"}}},
		{line: "/unlock platform", want: Command{Name: "unlock", Stages: []string{"platform"}}},
		{line: "/help", want: Command{Name: "help"}},
		{line: "/help me", usage: "takes no arguments"},
		{line: "/apply --auto-approve", usage: "not flags"},
		{line: "/apply -target=x", usage: "not flags"},
		{line: "/apply ../../etc", usage: "is not a stage name"},
		{line: "/apply platform;rm -rf /", usage: "is not a stage name"},
		{line: "/apply $(id)", usage: "is not a stage name"},
		{line: "/plan `x`", usage: "is not a stage name"},
		{line: "/apply Platform", usage: "is not a stage name"},
		{line: "/Apply", usage: "lower case"},
		{line: "/APPLY platform", usage: "lower case"},
		{line: "/destroy", usage: "unknown command `/destroy`"},
		{line: "/аpply platform", usage: "unknown command"}, // Cyrillic а
		{line: "/apply\u00a0platform", want: Command{Name: "apply", Stages: []string{"platform"}}},
		{line: "/plan " + strings.Repeat("x", 2000), usage: "longer than"},
		{line: "/" + strings.Repeat("a", 65), ignored: true},
		{line: "LGTM", ignored: true},
		{line: "", ignored: true},
		{line: "please /apply", ignored: true},
		{line: "> /apply", ignored: true},
		{line: "`/apply`", ignored: true},
		{line: "```", ignored: true},
		{line: "/etc/hosts is wrong", ignored: true},
		{line: "/ apply", ignored: true},
		{line: "/:)", ignored: true},
		{line: "/apply/", ignored: true},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, err := Parse(tt.line)
			var ue *UsageError
			switch {
			case tt.ignored:
				if !errors.Is(err, ErrNotCommand) {
					t.Fatalf("Parse = %+v, %v; want ErrNotCommand", got, err)
				}
			case tt.usage != "":
				if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tt.usage) {
					t.Fatalf("Parse = %+v, %v; want usage error with %q", got, err, tt.usage)
				}
			default:
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Fatalf("Parse (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"/plan", "/apply platform", "/apply --auto-approve", "/apply ../../etc", "/аpply", "hello", "/help x", "/unlock a b c", "```\n/apply"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := Parse(line)
		var ue *UsageError
		switch {
		case err == nil:
			if cmd.Name != Plan && cmd.Name != Apply && cmd.Name != Unlock && cmd.Name != Help {
				t.Fatalf("accepted unknown command %q from %q", cmd.Name, line)
			}
			for _, s := range cmd.Stages {
				// Nothing accepted can be a flag, a path or shell syntax.
				if !stageName.MatchString(s) {
					t.Fatalf("accepted stage %q from %q", s, line)
				}
			}
		case errors.As(err, &ue):
			if !utf8.ValidString(ue.Msg) || strings.Count(ue.Msg, "`")%2 != 0 || strings.Contains(ue.Msg, "@") && !strings.Contains(ue.Msg, "@\u200b") {
				t.Fatalf("unsafe guidance %q for %q", ue.Msg, line)
			}
		case errors.Is(err, ErrNotCommand):
		default:
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
	})
}
