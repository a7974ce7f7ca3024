package web

import (
	"bytes"
	"html/template"
	"net/http"
	"time"
)

// page is what every template gets.
type page struct {
	Lang     string
	Title    string // message key
	CSRF     string
	Path     string // for the language toggle to come back to
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

// render writes a page in the request's language. Templates are executed
// into a buffer first so a template error becomes a clean 500, not half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if p.Lang == "" {
		p.Lang = negotiateLanguage(r)
	}
	p.CSRF = csrfToken(s.flow(w, r))
	p.Path = r.URL.Path
	if _, err := s.Sessions.Get(r.Context(), r); err == nil {
		p.LoggedIn = true
	}
	t, err := s.pages[name].Clone()
	if err == nil {
		lang := p.Lang
		t.Funcs(template.FuncMap{
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
		})
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

// errorPage shows a friendly error in the resident's language.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, key string) {
	title := "error.title"
	if status == http.StatusNotFound {
		title = "error.not_found_title"
	}
	s.render(w, r, status, "error", page{Title: title, Data: s.message(r, key)})
}
