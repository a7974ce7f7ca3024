package demo

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
)

// pages holds one parsed template set per page, each with the layout.
type pages struct {
	home, result, problem *template.Template
}

func parsePages() (pages, error) {
	parse := func(name string) (*template.Template, error) {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("demo: parse template %s: %w", name, err)
		}
		return t, nil
	}
	var p pages
	var err error
	if p.home, err = parse("home.html"); err != nil {
		return p, err
	}
	if p.result, err = parse("result.html"); err != nil {
		return p, err
	}
	if p.problem, err = parse("error.html"); err != nil {
		return p, err
	}
	return p, nil
}

// problem is what the error page shows. Title and Message are written for
// the visitor; Code and Description come from the provider's error response
// (RFC 6749 §4.1.2.1) and are shown as received, escaped.
type problem struct {
	Title       string
	Message     string
	Code        string
	Description string
}

// render writes page t with data. Every demo page is personal or carries
// protocol values, so none is cached, and no Referer leaks the URL.
func (h *Handler) render(w http.ResponseWriter, status int, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		h.log.Error("demo: render page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail logs cause (never shown: it may name endpoints or internals) and
// renders the error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, p problem, cause error) {
	if cause != nil {
		h.log.Warn("demo: request failed", "path", r.URL.Path, "status", status, "err", cause)
	}
	h.render(w, status, h.pages.problem, p)
}

// providerErrorMessages explains the error codes of RFC 6749 §4.1.2.1 and
// OpenID Connect Core §3.1.2.6 in a sentence.
var providerErrorMessages = map[string]string{
	"access_denied":              "The login was cancelled, or you chose not to share your data with the demo service.",
	"login_required":             "eidp needs you to log in, but the demo asked it not to show a login page.",
	"interaction_required":       "eidp needs you to do something (log in or give consent), but the demo asked it not to show a page.",
	"consent_required":           "eidp needs your consent, but the demo asked it not to show the consent page.",
	"account_selection_required": "eidp needs you to choose an account.",
	"invalid_scope":              "The demo asked for data it is not registered for.",
	"unauthorized_client":        "The demo service is not allowed to log in this way. Check its registration.",
	"invalid_request":            "eidp did not accept the demo's login request.",
	"invalid_request_uri":        "eidp did not accept the demo's login request.",
	"unsupported_response_type":  "eidp did not accept the demo's login request.",
	"server_error":               "eidp had a problem and could not finish the login. Please try again.",
	"temporarily_unavailable":    "eidp is busy right now. Please try again in a moment.",
}
