package demo

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

//go:embed templates/*.html templates/demo.js
var templateFS embed.FS

var pageTemplates = template.Must(template.New("").Funcs(template.FuncMap{"markdown": markdown}).ParseFS(templateFS, "templates/*.html"))

// markdown renders a comment as GitHub does: GitHub-flavoured Markdown
// with the HTML it allows (details, summary, sub), and nothing that runs.
var (
	md        = goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(html.WithUnsafe()))
	sanitizer = func() *bluemonday.Policy {
		p := bluemonday.UGCPolicy()
		p.AllowElements("details", "summary", "sub", "sup")
		p.AllowAttrs("open").OnElements("details")
		return p
	}()
)

func markdown(src string) template.HTML {
	var buf bytes.Buffer
	if err := md.Convert([]byte(src), &buf); err != nil {
		return template.HTML(template.HTMLEscapeString(src))
	}
	return template.HTML(sanitizer.SanitizeBytes(buf.Bytes()))
}

// pages wraps the fake GitHub's handler with the pull request pages: the
// page itself, its timeline alone (which the page polls), and the form
// that comments on it.
func (d *Demo) pages(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, d.PullURL(1), http.StatusFound)
	})
	mux.HandleFunc("GET /-/demo.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		b, _ := templateFS.ReadFile("templates/demo.js")
		w.Write(b)
	})
	mux.HandleFunc("GET /{owner}/{repo}/pull/{number}", d.pullPage("pull.html"))
	mux.HandleFunc("GET /{owner}/{repo}/pull/{number}/timeline", d.pullPage("timeline"))
	mux.HandleFunc("POST /{owner}/{repo}/pull/{number}/comments", d.comment)
	mux.HandleFunc("POST /{owner}/{repo}/pull/{number}/checks/{id}", d.pressButton)
	// Only this machine's own name for it: a page of another site whose
	// name someone points at 127.0.0.1 (DNS rebinding) reaches nothing.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != strings.TrimPrefix(d.URL, "http://") {
			http.Error(w, "the demo answers only at "+d.URL, http.StatusMisdirectedRequest)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// pullView is what a pull request page shows.
type pullView struct {
	Owner, Name string
	Pull        githubtest.Pull
	Comments    []githubtest.Comment
	Checks      []githubtest.CheckRun
	Error       string
	// Token is the comment form's: only the page posts comments.
	Token string
}

func (d *Demo) pull(r *http.Request) (pullView, bool) {
	n, err := strconv.Atoi(r.PathValue("number"))
	if err != nil || r.PathValue("owner") != Owner || r.PathValue("repo") != Name {
		return pullView{}, false
	}
	p, ok := d.GH.PullOf(d.Repo, n)
	if !ok {
		return pullView{}, false
	}
	v := pullView{Owner: Owner, Name: Name, Pull: p, Comments: d.GH.Comments(d.Repo, n), Error: r.URL.Query().Get("error"), Token: d.formToken}
	for _, c := range d.GH.CheckRuns(d.Repo) {
		if c.HeadSHA == p.HeadSHA {
			v.Checks = append(v.Checks, c)
		}
	}
	slices.SortFunc(v.Checks, func(a, b githubtest.CheckRun) int { return strings.Compare(a.Name, b.Name) })
	return v, true
}

func (d *Demo) pullPage(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ok := d.pull(r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'")
		if err := pageTemplates.ExecuteTemplate(w, name, v); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}
}

// fromThePage reports whether a post comes from the pull request's own
// page: another site cannot comment /apply, or press Apply, through the
// user's browser.
func (d *Demo) fromThePage(w http.ResponseWriter, r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" || r.Header.Get("Origin") != "" && r.Header.Get("Origin") != d.URL ||
		subtle.ConstantTimeCompare([]byte(r.FormValue("token")), []byte(d.formToken)) != 1 {
		http.Error(w, "comments and buttons are posted from the pull request's page only", http.StatusForbidden)
		return false
	}
	return true
}

// pressButton is a press of one of a check run's buttons by User: the bot
// gets the check_run requested_action event GitHub sends.
func (d *Demo) pressButton(w http.ResponseWriter, r *http.Request) {
	v, ok := d.pull(r)
	if !ok || !d.fromThePage(w, r) {
		if !ok {
			http.NotFound(w, r)
		}
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	i := slices.IndexFunc(v.Checks, func(c githubtest.CheckRun) bool { return c.ID == id })
	identifier := r.FormValue("identifier")
	if i < 0 || !slices.ContainsFunc(v.Checks[i].Actions, func(a githubtest.Action) bool { return a.Identifier == identifier }) {
		http.Error(w, "no such button on this pull request's checks", http.StatusNotFound)
		return
	}
	back := d.PullURL(v.Pull.Number)
	if err := d.deliver(r.Context(), "check_run", d.GH.RequestedActionPayload(d.Repo, id, identifier, User, v.Pull.Number)); err != nil {
		back += "?error=" + template.URLQueryEscaper(err.Error())
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// comment posts the form's comment as User, as GitHub does, and sends the
// bot its issue_comment event.
func (d *Demo) comment(w http.ResponseWriter, r *http.Request) {
	v, ok := d.pull(r)
	if !ok || !d.fromThePage(w, r) {
		if !ok {
			http.NotFound(w, r)
		}
		return
	}
	back := d.PullURL(v.Pull.Number)
	body := strings.TrimSpace(r.FormValue("body"))
	if body != "" {
		id := d.GH.AddComment(d.Repo, v.Pull.Number, User, body)
		if err := d.deliver(r.Context(), "issue_comment", d.GH.CommentPayload(d.Repo, v.Pull.Number, id)); err != nil {
			back += "?error=" + template.URLQueryEscaper(err.Error())
		}
	}
	http.Redirect(w, r, back+"#new", http.StatusSeeOther)
}
