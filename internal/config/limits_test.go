package config

import (
	"strings"
	"testing"
)

func TestPushLimits(t *testing.T) {
	s, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxInstances != 200 || s.MaxStages != 50 || s.MaxChangedFiles != 3000 || s.MaxTreeFiles != 20000 || s.GitHubQuotaShare != 50 {
		t.Errorf("defaults: instances %d, stages %d, changed files %d, tree files %d, quota share %d", s.MaxInstances, s.MaxStages, s.MaxChangedFiles, s.MaxTreeFiles, s.GitHubQuotaShare)
	}
	s, err = load(t, []string{"-max-stages", "7"}, map[string]string{"STAGEBOT_MAX_INSTANCES": "5000", "STAGEBOT_GITHUB_QUOTA_SHARE": "0"})
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxInstances != 5000 || s.MaxStages != 7 || s.GitHubQuotaShare != 0 {
		t.Errorf("set: instances %d, stages %d, quota share %d", s.MaxInstances, s.MaxStages, s.GitHubQuotaShare)
	}
	for _, tc := range []struct{ env, value string }{
		{"STAGEBOT_MAX_INSTANCES", "0"},
		{"STAGEBOT_MAX_STAGES", "-1"},
		// GitHub lists no more of a pull request's files.
		{"STAGEBOT_MAX_CHANGED_FILES", "3001"},
		{"STAGEBOT_MAX_TREE_FILES", "many"},
		{"STAGEBOT_GITHUB_QUOTA_SHARE", "101"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			_, err := load(t, nil, map[string]string{tc.env: tc.value})
			if err == nil || !strings.Contains(err.Error(), tc.env) {
				t.Errorf("%s=%s: err = %v", tc.env, tc.value, err)
			}
		})
	}
}
