package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stagebot/stagebot/internal/store"
)

// pollEvery is how often a live log is read for new lines.
const pollEvery = 200 * time.Millisecond

// runLog streams a run's log as Server-Sent Events: a "line" event per
// line, redacted like comments, then "end" with how it ended. A run that
// goes on on this replica streams from its log file as Terraform writes
// it; an ended run streams its log from the database. A plan streams live
// up to its diff: the diff may show values the plan marks sensitive, which
// are known (and redacted) only once it ends, so it follows then.
func (h *Handler) runLog(w http.ResponseWriter, r *http.Request, u *session) {
	run, ok := h.readableRun(w, r, u)
	if !ok {
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	// A stream lasts as long as the run, past the server's write timeout.
	rc := http.NewResponseController(w)
	// Each line's event id is the log's offset after it: a browser that
	// reconnects says where it was (Last-Event-ID) and goes on from there.
	var offset int64
	send := func(event, data string, upTo int64) {
		rc.SetWriteDeadline(time.Now().Add(time.Minute))
		if event == "" { // a comment: the stream is alive
			fmt.Fprint(w, ": waiting\n\n")
			flusher.Flush()
			return
		}
		for _, line := range strings.Split(data, "\n") {
			fmt.Fprintf(w, "event: %s\ndata: %s\n", event, line)
			if upTo > 0 {
				fmt.Fprintf(w, "id: %d\n", upTo)
			}
			fmt.Fprint(w, "\n")
		}
		flusher.Flush()
	}
	end := func(okRun bool) {
		state := "failed"
		if okRun {
			state = "succeeded"
		}
		fmt.Fprintf(w, "event: end\ndata: %s\n\n", state)
		flusher.Flush()
	}
	switch {
	case !run.Running():
		h.recorded(run, 0, send, end)
		return
	case run.Replica != h.cfg.Replica:
		// Its log file is on the replica that runs it: the log follows
		// from the record when the run ends.
		h.rest(r, run, 0, send, end)
		return
	}
	f, err := os.Open(run.LogPath)
	if err != nil {
		end(false)
		return
	}
	defer f.Close()
	if last, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil && last > 0 {
		if _, err := f.Seek(last, io.SeekStart); err == nil {
			offset = last
		}
	}
	var pending []byte
	held, sent := false, 0
	buf := make([]byte, 64<<10)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	lastCheck := time.Now()
	for {
		n, err := f.Read(buf)
		pending = append(pending, buf[:n]...)
		if i := bytes.LastIndexByte(pending, '\n'); i >= 0 {
			lines := strings.Split(string(pending[:i]), "\n")
			if run.Op == "plan" {
				if k := slices.IndexFunc(lines, startsPlanDiff); k >= 0 {
					lines, held = lines[:k], true
				}
			}
			if len(lines) > 0 {
				offset += int64(len(strings.Join(lines, "\n")) + 1)
				send("line", h.cfg.Redact(run.Repo, strings.Join(lines, "\n")), offset)
				sent += len(lines)
			}
			pending = append([]byte(nil), pending[i+1:]...)
		}
		if held {
			// The plan's values are known, and redacted, once it ends:
			// the rest comes from its record then.
			h.rest(r, run, sent, send, end)
			return
		}
		if n > 0 && err == nil {
			continue // more may be there now
		}
		if err != nil && err != io.EOF {
			end(false)
			return
		}
		// At the end of what is written: has the run ended?
		if time.Since(lastCheck) >= time.Second {
			lastCheck = time.Now()
			send("", "", 0)
			now, found, err := h.cfg.Store.RunByID(r.Context(), run.ID)
			if err != nil || !found || !now.Running() {
				if len(pending) > 0 {
					send("line", h.cfg.Redact(run.Repo, string(pending)), 0)
				}
				end(found && now.OK)
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// planDiffStarts are the lines that begin what a plan prints of its
// changes.
var planDiffStarts = []string{"Note: Objects have changed outside of", "Terraform used the selected providers", "Terraform will perform the following actions", "Changes to Outputs:", "No changes."}

func startsPlanDiff(line string) bool {
	return slices.ContainsFunc(planDiffStarts, func(p string) bool { return strings.HasPrefix(line, p) })
}

// rest waits for run to end and sends its recorded log from line sent on.
func (h *Handler) rest(r *http.Request, run store.Run, sent int, send func(event, data string, upTo int64), end func(bool)) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		now, found, err := h.cfg.Store.RunByID(r.Context(), run.ID)
		if err != nil || !found {
			end(false)
			return
		}
		if !now.Running() {
			h.recorded(now, sent, send, end)
			return
		}
		send("", "", 0) // the stream is alive while the run goes on
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// recorded sends an ended run's recorded log from line sent on, and its end.
func (h *Handler) recorded(run store.Run, sent int, send func(event, data string, upTo int64), end func(bool)) {
	if log := strings.TrimRight(run.Log, "\n"); log != "" {
		if lines := strings.Split(log, "\n"); sent < len(lines) {
			send("line", h.cfg.Redact(run.Repo, strings.Join(lines[sent:], "\n")), 0)
		}
	}
	end(run.OK)
}
