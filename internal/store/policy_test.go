package store

import (
	"context"
	"testing"
)

// A policy verdict is kept per saved plan; an approval holds for that plan
// only, survives a re-check of the same plan, and carries over to a merge
// of the same head.
func TestPolicyChecks(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if _, ok, err := s.PolicyCheckOf(ctx, "acme/p", 1, "infra", "h1"); ok || err != nil {
				t.Fatalf("an unchecked plan: %v %v", ok, err)
			}
			if ok, err := s.ApprovePolicy(ctx, "acme/p", 1, "infra", "h1", "dana"); ok || err != nil {
				t.Fatalf("approving an unchecked plan: %v %v", ok, err)
			}
			denied := PolicyCheck{PlanSHA256: "h1", HeadSHA: "c1", Deny: []string{"db destroyed"}}
			if err := s.RecordPolicyCheck(ctx, "acme/p", 1, "infra", denied); err != nil {
				t.Fatal(err)
			}
			pc, ok, err := s.PolicyCheckOf(ctx, "acme/p", 1, "infra", "h1")
			if err != nil || !ok || pc.Allowed() || len(pc.Deny) != 1 || pc.Deny[0] != "db destroyed" {
				t.Fatalf("denied plan: %+v %v %v", pc, ok, err)
			}
			if _, ok, _ := s.ApprovedAtHead(ctx, "acme/p", 1, "infra", "c1"); ok {
				t.Error("an approval before anyone approved")
			}
			if ok, err := s.ApprovePolicy(ctx, "acme/p", 1, "infra", "h1", "dana"); !ok || err != nil {
				t.Fatal(ok, err)
			}
			// The same plan checked again keeps its approval.
			if err := s.RecordPolicyCheck(ctx, "acme/p", 1, "infra", denied); err != nil {
				t.Fatal(err)
			}
			if pc, _, _ := s.PolicyCheckOf(ctx, "acme/p", 1, "infra", "h1"); !pc.Allowed() || pc.ApprovedBy != "dana" || pc.ApprovedAt.IsZero() {
				t.Errorf("after approval: %+v", pc)
			}
			if ap, ok, _ := s.ApprovedAtHead(ctx, "acme/p", 1, "infra", "c1"); !ok || ap.ApprovedBy != "dana" {
				t.Errorf("approval at the head: %+v %v", ap, ok)
			}
			// A new plan is checked afresh.
			if err := s.RecordPolicyCheck(ctx, "acme/p", 1, "infra", PolicyCheck{PlanSHA256: "h2", HeadSHA: "c2", Deny: []string{"db destroyed"}}); err != nil {
				t.Fatal(err)
			}
			if pc, _, _ := s.PolicyCheckOf(ctx, "acme/p", 1, "infra", "h2"); pc.Allowed() {
				t.Errorf("a new plan inherited the approval: %+v", pc)
			}
			if pc, ok, _ := s.PolicyCheckOf(ctx, "acme/p", 2, "infra", "h1"); ok {
				t.Errorf("another PR sees the record: %+v", pc)
			}
		})
	}
}
