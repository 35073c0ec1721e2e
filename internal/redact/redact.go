// Package redact keeps secret values out of everything the bot writes:
// comments, check runs, chart messages, error texts and log files. It knows
// two kinds of secret: credentials (the values the bot hands Terraform or
// writes into Kubernetes), redacted whatever their length, and values that
// are sensitive somewhere (a plan, a state's outputs), redacted once they
// are long enough to be secrets rather than words or numbers.
package redact

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"sync"
)

// Mask replaces every secret value.
const Mask = "(redacted)"

const (
	// MinValueLen is the shortest sensitive value redacted: shorter ones
	// ("true", "5432", "admin") would blank out ordinary text everywhere,
	// and are no secret worth the name.
	MinValueLen = 8
	// MinCredentialLen is the shortest credential redacted. A credential
	// is redacted even when short, but a value of one or two characters
	// would turn every comment into masks.
	MinCredentialLen = 3
)

// Set is the secret values to redact. The zero value redacts nothing; a nil
// *Set is valid and redacts nothing. It is safe for concurrent use.
type Set struct {
	mu       sync.Mutex
	values   map[string]bool
	replacer *strings.Replacer // nil when values changed since it was built
}

// New returns a set of sensitive values (see Add).
func New(values ...string) *Set {
	s := &Set{}
	s.Add(values...)
	return s
}

// Add adds sensitive values; those shorter than MinValueLen are ignored.
func (s *Set) Add(values ...string) {
	s.add(MinValueLen, values)
}

// AddCredentials adds credentials: redacted from MinCredentialLen on.
func (s *Set) AddCredentials(values ...string) {
	s.add(MinCredentialLen, values)
}

// Merge adds every value of other.
func (s *Set) Merge(other *Set) {
	s.add(0, other.Values())
}

func (s *Set) add(minLen int, values []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		for _, form := range forms(v) {
			if len(form) < minLen || len(form) < MinCredentialLen || s.values[form] {
				continue
			}
			if s.values == nil {
				s.values = map[string]bool{}
			}
			s.values[form] = true
			s.replacer = nil
		}
	}
}

// forms are the ways a value shows up in text: as it is, and each line of
// a multi-line value (a PEM key or a kubeconfig is printed line by line,
// often indented or JSON-escaped).
func forms(v string) []string {
	v = strings.TrimSpace(v)
	out := []string{v}
	if strings.Contains(v, "\n") {
		out = append(out, strings.ReplaceAll(v, "\n", `\n`))
		for line := range strings.SplitSeq(v, "\n") {
			// PEM's BEGIN and END lines are no secret.
			if line = strings.TrimSpace(line); len(line) >= MinValueLen && !strings.HasPrefix(line, "-----") {
				out = append(out, line)
			}
		}
	}
	return out
}

// Len is the number of values redacted.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.values)
}

// Redact replaces every secret in text with Mask. Longer values are
// replaced first, so a secret that contains another is masked whole.
func (s *Set) Redact(text string) string {
	if r := s.get(); r != nil {
		return r.Replace(text)
	}
	return text
}

func (s *Set) get() *strings.Replacer {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.values) == 0 {
		return nil
	}
	if s.replacer == nil {
		vals := make([]string, 0, len(s.values))
		for v := range s.values {
			vals = append(vals, v)
		}
		// Longest first: at a given position the Replacer tries its pairs
		// in argument order.
		slices.SortFunc(vals, func(a, b string) int {
			if len(a) != len(b) {
				return len(b) - len(a)
			}
			return strings.Compare(a, b)
		})
		pairs := make([]string, 0, 2*len(vals))
		for _, v := range vals {
			pairs = append(pairs, v, Mask)
		}
		s.replacer = strings.NewReplacer(pairs...)
	}
	return s.replacer
}

// longest is the length of the longest value: how much of a stream the
// writer must hold back, so no secret is cut in two.
func (s *Set) longest() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for v := range s.values {
		n = max(n, len(v))
	}
	return n
}

// Writer redacts what is written to it before passing it to w. It passes on
// whole lines as they end, and holds back a line's start until its end or
// Close, so a secret split across writes is still found (secrets do not
// span lines; multi-line ones are redacted line by line).
func (s *Set) Writer(w io.Writer) io.WriteCloser {
	return &writer{set: s, w: w}
}

type writer struct {
	mu   sync.Mutex
	set  *Set
	w    io.Writer
	line []byte
}

func (rw *writer) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.line = append(rw.line, p...)
	i := bytes.LastIndexByte(rw.line, '\n')
	cut := i + 1
	// A line without end could be held back forever (a progress bar):
	// past a bound, pass on what no secret can still be completing.
	if i < 0 && len(rw.line) > maxHeld {
		cut = rw.set.safeCut(rw.line, len(rw.line)-rw.set.longest()+1)
	}
	if cut <= 0 {
		return len(p), nil
	}
	if _, err := io.WriteString(rw.w, rw.set.Redact(string(rw.line[:cut]))); err != nil {
		return 0, err
	}
	rw.line = append(rw.line[:0], rw.line[cut:]...)
	return len(p), nil
}

// maxHeld is how much of an unfinished line a Writer holds back.
const maxHeld = 64 << 10

// safeCut moves cut back to the start of any secret that crosses it, so
// cutting b there splits no secret.
func (s *Set) safeCut(b []byte, cut int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for moved := true; moved && cut > 0; {
		moved = false
		for v := range s.values {
			from := max(0, cut-len(v)+1)
			if j := bytes.Index(b[from:min(len(b), cut+len(v)-1)], []byte(v)); j >= 0 && from+j < cut {
				cut, moved = from+j, true
			}
		}
	}
	return cut
}

// Close writes what is held back. It does not close the underlying writer.
func (rw *writer) Close() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if len(rw.line) == 0 {
		return nil
	}
	_, err := io.WriteString(rw.w, rw.set.Redact(string(rw.line)))
	rw.line = rw.line[:0]
	return err
}

// With returns a new set: s and the sensitive values (see Add). s is not
// changed.
func (s *Set) With(values ...string) *Set {
	n := &Set{}
	n.Merge(s)
	n.Add(values...)
	return n
}

// Values returns the values the set redacts, for another set to take (see
// Merge); never for display.
func (s *Set) Values() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.values))
	for v := range s.values {
		out = append(out, v)
	}
	return out
}
