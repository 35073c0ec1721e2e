// Command gen regenerates the inputs of the comments golden tests with the
// real terraform binary: plan JSON, plan text, logs and errors of fixture
// stages that use only built-in resources. Run from the repository root:
//
//	go run ./internal/comments/testdata/gen
//	UPDATE=1 go test ./internal/comments
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/stagebot/stagebot/internal/runner"
)

// step is one version of a stage's files; every step but the last is
// applied, and the last is planned and saved as the case.
type fixture struct {
	name  string
	steps []map[string]string
	large bool // gzip the inputs
}

const planted = "s3cr3t-planted-value"

func main() {
	bin := os.Getenv("STAGEBOT_TEST_TERRAFORM_BIN")
	if bin == "" {
		bin = "terraform"
	}
	out := filepath.Join("internal", "comments", "testdata", "plans")
	tmp, err := os.MkdirTemp("", "stagebot-gen")
	check(err)
	defer os.RemoveAll(tmp)
	r, err := runner.New(ctx, runner.Config{TerraformBin: bin, DataDir: filepath.Join(tmp, "data")})
	check(err)
	for _, f := range fixtures() {
		fmt.Println("fixture", f.name)
		dir := filepath.Join(tmp, f.name)
		state := filepath.Join(tmp, f.name+".tfstate")
		for i, files := range f.steps {
			os.RemoveAll(dir)
			check(os.MkdirAll(dir, 0o755))
			files["backend.tf"] = fmt.Sprintf("terraform {\n  backend \"local\" {\n    path = %q\n  }\n}\n", state)
			for name, content := range files {
				check(os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
			}
			run := runner.Run{Repo: "acme/platform", PR: 1, Stage: f.name, Dir: dir, HeadSHA: fmt.Sprint("step", i), BaseSHA: "base"}
			res, err := r.Plan(context.Background(), run)
			last := i == len(f.steps)-1
			if !last {
				if err != nil {
					panic(err)
				}
				_, err := r.Apply(context.Background(), run)
				check(err)
				continue
			}
			caseDir := filepath.Join(out, f.name)
			os.RemoveAll(caseDir)
			check(os.MkdirAll(caseDir, 0o755))
			var re *runner.RunError
			if errors.As(err, &re) {
				write(caseDir, "error.txt", clean(re.Output, tmp), false)
				continue
			}
			check(err)
			js, err := json.MarshalIndent(res.JSON, "", " ")
			check(err)
			write(caseDir, "plan.json", clean(string(js), tmp), f.large)
			write(caseDir, "plan.txt", clean(res.Text, tmp), f.large)
			write(caseDir, "log.txt", clean(res.Log, tmp), f.large)
		}
	}
}

// clean takes the temp dir out so the inputs do not change between runs.
func clean(s, tmp string) string { return strings.ReplaceAll(s, tmp, "/tmp/fixture") }

func write(dir, name, content string, gz bool) {
	if !gz {
		check(os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
		return
	}
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(content))
	check(w.Close())
	check(os.WriteFile(filepath.Join(dir, name+".gz"), b.Bytes(), 0o644))
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}

func fixtures() []fixture {
	v1 := `resource "terraform_data" "keep" {
  input = "same"
}
resource "terraform_data" "update" {
  input = "v1"
}
resource "terraform_data" "replace" {
  triggers_replace = ["v1"]
}
resource "terraform_data" "database" {
  input = "tenant-db"
}
resource "terraform_data" "old_name" {
  input = "moved"
}
`
	v2 := `resource "terraform_data" "keep" {
  input = "same"
}
resource "terraform_data" "update" {
  input = "v2"
}
resource "terraform_data" "replace" {
  triggers_replace = ["v2"]
}
resource "terraform_data" "new_name" {
  input = "moved"
}
moved {
  from = terraform_data.old_name
  to   = terraform_data.new_name
}
resource "terraform_data" "create" {
  input = "hello"
}
`
	creates := `variable "db_password" {
  type      = string
  default   = "hunter2-sensitive"
  sensitive = true
}
resource "terraform_data" "cluster" {
  input = { name = "k8s", nodes = 3 }
}
resource "terraform_data" "db" {
  input = var.db_password
}
resource "terraform_data" "token" {
  input = "` + planted + `"
}
output "password" {
  value     = var.db_password
  sensitive = true
}
`
	return []fixture{
		{name: "creates", steps: []map[string]string{{"main.tf": creates}}},
		{name: "changes", steps: []map[string]string{{"main.tf": v1}, {"main.tf": v2}}},
		{name: "no-changes", steps: []map[string]string{{"main.tf": v1}, {"main.tf": v1}}},
		{name: "warnings", steps: []map[string]string{{"main.tf": "variable \"replicas\" {\n  type    = number\n  default = 1\n}\nresource \"terraform_data\" \"x\" {\n  input = var.replicas\n}\ncheck \"ha\" {\n  assert {\n    condition     = var.replicas >= 2\n    error_message = \"Authentik runs with one replica: no high availability.\"\n  }\n}\n"}}},
		{name: "error-runtime", steps: []map[string]string{{"main.tf": "resource \"terraform_data\" \"a\" {\n  input = \"" + planted + "\"\n}\noutput \"x\" {\n  value = file(\"${path.module}/missing.txt\")\n}\n"}}},
		{name: "error-syntax", steps: []map[string]string{{"main.tf": "resource \"terraform_data\" \"x\" {\n  input = \n}\n"}}},
		{name: "large", large: true, steps: []map[string]string{{"main.tf": "resource \"terraform_data\" \"r\" {\n  count = 10000\n  input = \"item-${count.index}\"\n}\n"}}},
	}
}
