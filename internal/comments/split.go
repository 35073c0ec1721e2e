package comments

import (
	"strings"
	"unicode/utf8"
)

// Split cuts a Markdown body into parts of at most limit characters (GitHub
// counts characters, not bytes). A part never ends inside a code fence or a
// <details> block: open blocks are closed at the end of a part and opened
// again at the start of the next, so each part renders on its own. Parts
// from the second on start with header(i, n); header must not grow with n
// beyond what header(i, 999) takes.
func Split(body string, limit int, header func(i, n int) string) []string {
	if utf8.RuneCountInString(body) <= limit {
		return []string{body}
	}
	s := splitter{limit: limit, header: func(i int) string { return header(i, 999) }}
	s.start()
	for _, line := range strings.SplitAfter(body, "\n") {
		s.add(line)
	}
	s.finish()
	// Now that n is known, put the real headers in.
	n := len(s.parts)
	for i := 1; i < n; i++ {
		wide := header(i+1, 999)
		s.parts[i] = header(i+1, n) + strings.TrimPrefix(s.parts[i], wide)
	}
	return s.parts
}

type splitter struct {
	limit   int
	header  func(i int) string
	parts   []string
	cur     strings.Builder
	curLen  int
	base    int      // length of the part's header and openers
	fence   string   // the open fence's line ("```" or "```hcl"), or ""
	details []string // open <details> lines, outermost first
}

func runes(s string) int { return utf8.RuneCountInString(s) }

func (s *splitter) closers() string { return closers(s.fence, len(s.details)) }

func closers(fence string, details int) string {
	var b strings.Builder
	if fence != "" {
		b.WriteString("\n" + fenceRun(fence))
	}
	for range details {
		b.WriteString("\n\n</details>")
	}
	return b.String()
}

// maxOpener bounds a re-opened block's line; a longer one is re-opened bare.
const maxOpener = 200

func (s *splitter) openers() string {
	var b strings.Builder
	for _, d := range s.details {
		if runes(d) > maxOpener {
			d = "<details>"
		}
		b.WriteString(d + "\n\n")
	}
	if s.fence != "" {
		f := s.fence
		if runes(f) > maxOpener {
			f = fenceRun(f)
		}
		b.WriteString(f + "\n")
	}
	return b.String()
}

func (s *splitter) start() {
	s.cur.Reset()
	if len(s.parts) > 0 {
		s.cur.WriteString(s.header(len(s.parts) + 1))
	}
	s.cur.WriteString(s.openers())
	s.curLen = runes(s.cur.String())
	s.base = s.curLen
}

func (s *splitter) flush() {
	s.parts = append(s.parts, strings.TrimRight(s.cur.String(), "\n")+s.closers())
	s.start()
}

func (s *splitter) room() int { return s.limit - s.curLen - runes(s.closers()) - 1 }

func (s *splitter) add(line string) {
	orig := line
	// A line that opens a block needs room for that block's closer too.
	fence, details := s.fence, append([]string(nil), s.details...)
	s.track(orig)
	extra := max(runes(s.closers())-runes(closers(fence, len(details))), 0)
	s.fence, s.details = fence, details
	tracked := false
	for line != "" {
		n := runes(line)
		if n+extra <= s.room() {
			s.cur.WriteString(line)
			s.curLen += n
			break
		}
		if s.curLen > s.base {
			s.flush()
			continue
		}
		// A line longer than a whole part is cut. Its first piece holds
		// whatever block it opens, so the part closes that block.
		rs := []rune(line)
		r := min(max(s.room()-extra, 1), len(rs))
		s.cur.WriteString(string(rs[:r]) + "\n")
		s.curLen += r + 1
		line = string(rs[r:])
		if !tracked {
			s.track(orig)
			tracked, extra = true, 0
		}
		s.flush()
	}
	if !tracked {
		s.track(orig)
	}
}

// track updates the open blocks after line.
func (s *splitter) track(line string) {
	t := strings.TrimSpace(line)
	if s.fence != "" {
		if run := fenceRun(s.fence); strings.HasPrefix(t, run) && strings.Trim(t, "`") == "" {
			s.fence = ""
		}
		return
	}
	switch {
	case strings.HasPrefix(t, "```"):
		s.fence = t
	case strings.HasPrefix(t, "<details"):
		s.details = append(s.details, t)
	case strings.HasPrefix(t, "</details>") && len(s.details) > 0:
		s.details = s.details[:len(s.details)-1]
	}
}

func (s *splitter) finish() {
	if s.curLen > s.base || len(s.parts) == 0 {
		s.parts = append(s.parts, strings.TrimRight(s.cur.String(), "\n")+s.closers())
	}
}

// fenceRun is the run of backticks that opens (and so closes) a fence.
func fenceRun(open string) string {
	i := 0
	for i < len(open) && open[i] == '`' {
		i++
	}
	return open[:i]
}
