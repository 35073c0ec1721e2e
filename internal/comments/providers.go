package comments

import (
	"fmt"
	"strings"
	"unicode"
)

// ProviderCode is the provider code a pull request brings to a stage,
// found by comparing its tree with the base it is judged by: provider
// packages and files of the plugin mirrors Terraform reads from the
// stage's directory, and changes of what the stage's dependency lock file
// admits. Terraform runs providers as the plan's own code.
type ProviderCode struct {
	// Files are the provider files the PR adds or changes.
	Files []string
	// LockFile is the stage's lock file when the PR changes what it
	// admits (Lock says how, or LockError why that could not be read);
	// "" when it does not.
	LockFile  string
	Lock      []LockChange
	LockError string
	// Base is the commit the tree was compared with.
	Base RulesBase
	// ApprovedBy are those whose approval of the head counts (writers who
	// neither opened nor pushed to the PR); none while it waits for one.
	ApprovedBy []string
}

// LockChange is one provider whose entry in a lock file a PR changes.
type LockChange struct {
	Provider string // its source address: registry.terraform.io/hashicorp/null
	// From and To are its versions at the base and in the PR; "" where it
	// has no entry.
	From, To string
	// HashesAdded and HashesRemoved count the package hashes the PR adds
	// to and removes from its entry.
	HashesAdded, HashesRemoved int
}

// Approved reports whether an approval that counts covers the provider
// code.
func (p ProviderCode) Approved() bool { return len(p.ApprovedBy) > 0 }

// ProviderWarning is the warning at the top of a stage's plan comment (and
// its check run) whose provider code comes from the pull request: what the
// pull request brings, and that only an approval by a writer who did not
// push it lets the plan pass and be applied.
func ProviderWarning(p ProviderCode) string {
	var b strings.Builder
	if p.Approved() {
		fmt.Fprintf(&b, "> [!WARNING]\n> 🧩 **This plan ran provider code from the pull request.** Approved by @%s, who did not open or push to it: it may be applied.\n",
			strings.Join(p.ApprovedBy, ", @"))
	} else {
		b.WriteString("> [!CAUTION]\n> 🧩 **This plan ran provider code from the pull request: it needs approval by a writer who did not push it.** " +
			"Its check run does not pass, and it is not applied (by `/apply` or on merge), until someone with write permission who neither opened nor pushed to this pull request approves the current commit.\n")
	}
	fmt.Fprintf(&b, ">\n> Terraform runs provider plugins as its own code, with the plan's credentials. These differ from `%s` at %s:\n", p.Base.Branch, ShortSHA(p.Base.SHA))
	for _, f := range capList(p.Files) {
		fmt.Fprintf(&b, "> - %s\n", codeSpan(f))
	}
	if p.LockFile != "" {
		fmt.Fprintf(&b, "> - %s, the dependency lock file:", codeSpan(p.LockFile))
		if p.LockError != "" {
			fmt.Fprintf(&b, " changed, and could not be read: %s\n", oneLine(p.LockError))
		} else {
			b.WriteString("\n")
		}
		for _, c := range p.Lock {
			fmt.Fprintf(&b, ">   - %s %s\n", codeSpan(c.Provider), lockChangeText(c))
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// lockChangeText says how a provider's lock entry changes.
func lockChangeText(c LockChange) string {
	hashes := fmt.Sprintf("hashes changed (%d added, %d removed)", c.HashesAdded, c.HashesRemoved)
	switch {
	case c.From == "" && c.To != "":
		return fmt.Sprintf("added at %s with %d hash(es)", codeSpan(c.To), c.HashesAdded)
	case c.To == "" && c.From != "":
		return "removed (was " + codeSpan(c.From) + ")"
	case c.From != c.To && c.HashesAdded+c.HashesRemoved > 0:
		return codeSpan(c.From) + " → " + codeSpan(c.To) + ", " + hashes
	case c.From != c.To:
		return codeSpan(c.From) + " → " + codeSpan(c.To)
	}
	return hashes
}

// ProviderCodeUnapproved says why a stage whose provider code comes from
// the pull request is not applied: no approval that counts (why says what
// the approvals lack).
func ProviderCodeUnapproved(stage string, p ProviderCode, why string) string {
	var what []string
	if len(p.Files) > 0 {
		what = append(what, fmt.Sprintf("%d provider file(s)", len(p.Files)))
	}
	if p.LockFile != "" {
		what = append(what, "a changed dependency lock file "+codeSpan(p.LockFile))
	}
	return fmt.Sprintf("the plan of `%s` runs provider code from this pull request (%s), which is applied only once a writer who did not push it approves it, whatever the apply requirements say: %s",
		stage, strings.Join(what, " and "), why)
}

// codeSpan shows text a PR chose (a path) as inline code that cannot end
// the span or the line.
func codeSpan(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '`' || unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return "`" + s + "`"
}
