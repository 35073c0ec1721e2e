package store

import (
	"context"
	"testing"
)

func TestSections(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for _, u := range []string{"tenant:globex", "tenant:acme"} {
				if err := s.SetSection(ctx, "acme/p", 7, "tenant", u, "plan of "+u); err != nil {
					t.Fatal(err)
				}
			}
			s.SetSection(ctx, "acme/p", 8, "tenant", "tenant:acme", "#8's plan")
			// An apply replaces its instance's section, and no other.
			if err := s.SetSection(ctx, "acme/p", 7, "tenant", "tenant:acme", "applied"); err != nil {
				t.Fatal(err)
			}
			got, err := s.Sections(ctx, "acme/p", 7, "tenant")
			if err != nil || len(got) != 2 || got[0] != (Section{"tenant:acme", "applied"}) || got[1] != (Section{"tenant:globex", "plan of tenant:globex"}) {
				t.Fatalf("sections of #7 = %v, %v", got, err)
			}
			if err := s.DeleteSection(ctx, "acme/p", 7, "tenant:globex"); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.Sections(ctx, "acme/p", 7, "tenant"); len(got) != 1 {
				t.Errorf("after deleting globex's: %v", got)
			}
			if err := s.DeletePRSections(ctx, "acme/p", 7); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.Sections(ctx, "acme/p", 7, "tenant"); len(got) != 0 {
				t.Errorf("a closed PR keeps %v", got)
			}
			if got, _ := s.Sections(ctx, "acme/p", 8, "tenant"); len(got) != 1 || got[0].Body != "#8's plan" {
				t.Errorf("#8's section: %v", got)
			}
		})
	}
}
