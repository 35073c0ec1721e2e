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
		// A plan's arguments, from the allowlist, for one stage.
		{line: "/plan infrastructure -- -target=module.net.aws_vpc.main -replace=aws_instance.web[\"a\"] -var size=3 -refresh=false",
			want: Command{Name: "plan", Stages: []string{"infrastructure"}, Args: PlanArgs{Targets: []string{"module.net.aws_vpc.main"}, Replace: []string{`aws_instance.web["a"]`}, Vars: []string{"size=3"}, NoRefresh: true}}},
		{line: "/plan tenant:acme -- -target terraform_data.x -var name=a=b", want: Command{Name: "plan", Stages: []string{"tenant:acme"}, Args: PlanArgs{Targets: []string{"terraform_data.x"}, Vars: []string{"name=a=b"}}}},
		{line: "/plan infrastructure -- -destroy", usage: "is not allowed after `--`"},
		{line: "/plan infrastructure -- -target=x", usage: "is not a resource address"},
		{line: "/plan infrastructure -- -target=a.b${file(\"/etc/passwd\")}", usage: "is not a resource address"},
		{line: "/plan infrastructure -- -target=a.b\u00a0-destroy", usage: "is not allowed"},
		{line: "/plan infrastructure -- -var instance=evil", usage: "sets `instance` itself"},
		{line: "/plan infrastructure -- -var state_dir=/etc", usage: "sets `state_dir` itself"},
		{line: "/plan infrastructure -- -var =x", usage: "write `-var NAME=VALUE`"},
		{line: "/plan infrastructure --", usage: "nothing follows `--`"},
		{line: "/plan infrastructure platform -- -refresh=false", usage: "for one stage"},
		{line: "/plan -- -refresh=false", usage: "for one stage"},
		{line: "/apply infrastructure -- -target=a.b", usage: "not flags"},
		{line: "/plan infrastructure -- -refresh=true", usage: "is not allowed"},
		// State operations, on one stage.
		{line: "/import infrastructure terraform_data.db abc-123", want: Command{Name: "import", Stages: []string{"infrastructure"}, State: &StateOp{Op: OpImport, Address: "terraform_data.db", ID: "abc-123"}}},
		{line: "/state rm tenant:acme module.site.helm_release.wp", want: Command{Name: "state", Stages: []string{"tenant:acme"}, State: &StateOp{Op: OpRemove, Address: "module.site.helm_release.wp"}}},
		{line: "/state mv infrastructure terraform_data.a terraform_data.b", want: Command{Name: "state", Stages: []string{"infrastructure"}, State: &StateOp{Op: OpMove, Address: "terraform_data.a", To: "terraform_data.b"}}},
		{line: "/import infrastructure terraform_data.db", usage: "write `/import STAGE ADDRESS ID`"},
		{line: "/import ../etc terraform_data.db x", usage: "is not a stage name"},
		{line: "/import infrastructure file(\"/etc/passwd\") x", usage: "is not a resource address"},
		{line: "/state list infrastructure", usage: "write `/state rm STAGE ADDRESS`"},
		{line: "/state rm infrastructure a.b c.d", usage: "write `/state rm STAGE ADDRESS`"},
		{line: "/state mv infrastructure a.b ${x}", usage: "is not a resource address"},
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
	for _, s := range []string{"/plan", "/apply platform", "/apply --auto-approve", "/apply ../../etc", "/аpply", "hello", "/help x", "/unlock a b c", "```\n/apply",
		"/plan infrastructure -- -target=module.x.aws_vpc.y -var a=b", "/plan a b -- -var x=`@y`", "/import tenant:acme aws_s3_bucket.b[\"k\"] my-bucket", "/state mv a x.y x.z", "/state rm a x.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := Parse(line)
		var ue *UsageError
		switch {
		case err == nil:
			if !isKnown(cmd.Name) {
				t.Fatalf("accepted unknown command %q from %q", cmd.Name, line)
			}
			// What reaches Terraform passes the runner's own checks.
			if err := cmd.Args.Check(); err != nil || !cmd.Args.Empty() && (cmd.Name != Plan || len(cmd.Stages) != 1) {
				t.Fatalf("accepted arguments %+v from %q: %v", cmd.Args, line, err)
			}
			if op := cmd.State; op != nil {
				if CheckAddress(op.Address) != nil || op.Op == OpMove && CheckAddress(op.To) != nil || len(cmd.Stages) != 1 {
					t.Fatalf("accepted state operation %+v from %q", op, line)
				}
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
