package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// page is what every template gets.
type page struct {
	Lang     string
	Title    string // message key
	CSRF     string
	Path     string // for the language toggle to come back to (default: the request's path)
	LoggedIn bool
	Error    string // a message, already translated
	Notice   string // a message, already translated
	Data     any
}

func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		// t is replaced per request (see render); this one only lets templates parse.
		"t":         func(key string, pairs ...any) string { return key },
		"date":      func(t time.Time) string { return "" },
		"datetime":  func(t time.Time) string { return "" },
		"civildate": func(s string) string { return "" },
	}
}

// langFuncs are the template functions bound to one language.
func (s *Server) langFuncs(lang string) template.FuncMap {
	return template.FuncMap{
		"t":        func(key string, pairs ...any) string { return s.msgs.text(lang, key, pairs...) },
		"date":     func(t time.Time) string { return formatDate(lang, t.In(hongKong)) },
		"datetime": func(t time.Time) string { return formatDateTime(lang, t) },
		"civildate": func(d string) string {
			// A calendar date (YYYY-MM-DD) with no time zone, such as a birth date.
			t, err := time.Parse(time.DateOnly, d)
			if err != nil {
				return d
			}
			return formatDate(lang, t)
		},
	}
}

// render writes a page in the request's language. Templates are executed
// into a buffer first so a template error becomes a clean 500, not half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if p.Lang == "" {
		p.Lang = negotiateLanguage(r)
	}
	p.CSRF = csrfToken(s.flow(w, r))
	if p.Path == "" {
		p.Path = r.URL.Path
	}
	if _, err := s.Sessions.Get(r.Context(), r); err == nil {
		p.LoggedIn = true
	}
	t, ok := s.pages[name][p.Lang]
	var err error
	if !ok {
		err = fmt.Errorf("no template %s for language %q", name, p.Lang)
	}
	var buf bytes.Buffer
	if err == nil {
		err = t.Execute(&buf, p)
	}
	if err != nil {
		s.Log.ErrorContext(r.Context(), "rendering page", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", p.Lang)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// message translates a key for the request.
func (s *Server) message(r *http.Request, key string, pairs ...any) string {
	return s.msgs.text(negotiateLanguage(r), key, pairs...)
}

// errorView is the error page's data.
type errorView struct {
	Message string // translated
	// Code and Description are an OAuth error for the relying party's
	// developers (AuthorizationError); empty on other error pages.
	Code, Description string
}

// errorPage shows a friendly error in the resident's language.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, key string) {
	title := "error.title"
	if status == http.StatusNotFound {
		title = "error.not_found_title"
	}
	s.render(w, r, status, "error", page{Title: title, Data: errorView{Message: s.message(r, key)}})
}

// maxErrorDescription bounds the technical text shown on the error page.
const maxErrorDescription = 300

// AuthorizationError shows the resident an authorization request that must
// not be answered by a redirect to the client — an unknown client_id, a
// redirect_uri that is not registered (RFC 6749 §4.1.2.1; OIDC Core
// §3.1.2.6) — in the resident's language (ui_locales is honoured), with
// the OAuth error code and description for the service's developers in a
// collapsed block. status is the HTTP status to answer with (usually 400).
func (s *Server) AuthorizationError(w http.ResponseWriter, r *http.Request, status int, code, description string) {
	if len(description) > maxErrorDescription {
		description = strings.ToValidUTF8(description[:maxErrorDescription], "") + "…"
	}
	s.render(w, r, status, "error", page{Title: "autherr.title",
		Data: errorView{Message: s.message(r, "autherr.lead"), Code: code, Description: description}})
}
