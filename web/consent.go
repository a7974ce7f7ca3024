package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"eidp/idp/interaction"
	"eidp/idp/session"
	"eidp/internal/httpx"
	"eidp/vault/attr"
)

// The consent page: a relying party asks for personal data and the
// resident decides (OIDC Core §3.1.2.4). The provider owns the pending
// request; this page only shows it and passes the answer back through
// interaction.Service.

// maxInteractionID bounds the id parameter; the provider's are short.
const maxInteractionID = 128

// claimView is one claim as the resident reads it.
type claimView struct {
	Name    string // the claim name, sent back in the form
	Label   string // plain words in the page's language
	Preview string // for vault claims: a recognisable part of the value
}

// consentView is the consent page's data.
type consentView struct {
	ID        string
	Client    interaction.Client
	Essential []claimView // always released: shown, not chosen
	Optional  []claimView // the resident may untick these
	Missing   []claimView // vault claims the resident has not added: nothing to share
	Offline   bool
}

// interactionID reads a pending request's id, or "" if it cannot be one.
func interactionID(v string) string {
	if v == "" || len(v) > maxInteractionID || !printableASCII(v) {
		return ""
	}
	return v
}

// resumeLogin is where a browser without a session goes to log in and
// come back to the pending request id: the provider's resume endpoint,
// which sends it on to this page if consent is still needed.
func resumeLogin(id string) string {
	next := "/authorize/resume?" + url.Values{"id": {id}}.Encode()
	return "/login?" + url.Values{"next": {next}}.Encode()
}

// consentSession is requireSession for the consent page: a browser that is
// not logged in logs in and returns to the request.
func (s *Server) consentSession(w http.ResponseWriter, r *http.Request, id string) (session.Session, bool) {
	return s.requireSessionOr(w, r, resumeLogin(id))
}

// claimLabel puts a claim name into plain words; a claim without words of
// its own is shown by name, so the resident still sees what is asked.
func (s *Server) claimLabel(lang, name string) string {
	if text, ok := s.msgs[lang]["claim."+name]; ok {
		return text
	}
	if a, ok := attr.ByClaim(name); ok {
		return attr.Label(a, lang)
	}
	return s.msgs.text(lang, "claim_unknown", "name", name)
}

func (s *Server) claimLabels(lang string, names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, s.claimLabel(lang, n))
	}
	return out
}

// showClient keeps only what may be shown as given: links and the logo
// must be https URLs (html/template would neutralise a javascript: URL,
// but an http logo is mixed content and an http policy link a downgrade).
func showClient(c interaction.Client) interaction.Client {
	for _, u := range []*string{&c.LogoURI, &c.ClientURI, &c.PolicyURI, &c.TOSURI} {
		if !httpsURL(*u) {
			*u = ""
		}
	}
	return c
}

func httpsURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}

// pageCSP is httpx.DefaultCSP adjusted for one page:
//
//   - httpsImages adds https: to img-src, for the pages that show relying
//     parties' logos (client metadata logo_uri, RFC 7591 §2), loaded from
//     the services' own servers. Referrer-Policy stays no-referrer, so a
//     logo request does not say where it came from.
//   - formRedirects drops form-action, for the consent form: its answer is
//     a 303 to the client's redirect_uri, and Chrome and Safari apply
//     form-action to the redirects a form submission leads to
//     (w3c/webappsec-csp#8), so 'self' would stop the browser there. The
//     page cannot name the redirect_uri instead: it may be a native app's
//     private-use scheme or a loopback port (RFC 8252 §7), and the contract
//     does not carry it. The form posts to this page's own path.
func pageCSP(httpsImages, formRedirects bool) string {
	var out []string
	for _, d := range strings.Split(httpx.DefaultCSP, ";") {
		d = strings.TrimSpace(d)
		name, _, _ := strings.Cut(d, " ")
		switch {
		case name == "form-action" && formRedirects:
			continue
		case name == "img-src" && httpsImages:
			d += " https:"
		}
		out = append(out, d)
	}
	return strings.Join(out, "; ")
}

// setPageCSP replaces the policy SecurityHeaders set before the handler ran.
func setPageCSP(w http.ResponseWriter, httpsImages, formRedirects bool) {
	w.Header().Set("Content-Security-Policy", pageCSP(httpsImages, formRedirects))
}

func (s *Server) consentPage(w http.ResponseWriter, r *http.Request) {
	if s.OIDC == nil {
		s.notFound(w, r)
		return
	}
	id := interactionID(r.URL.Query().Get("id"))
	if id == "" {
		s.errorPage(w, r, http.StatusBadRequest, "consent.expired")
		return
	}
	sess, ok := s.consentSession(w, r, id)
	if !ok {
		return
	}
	lang := negotiateLanguage(r)
	prompt, err := s.OIDC.Consent(r.Context(), id, sess, lang)
	if err != nil {
		s.interactionFailed(w, r, err, "consent page")
		return
	}
	v := consentView{ID: id, Client: showClient(prompt.Client), Offline: prompt.Offline}
	for _, c := range prompt.Claims {
		cv := claimView{Name: c.Name, Label: s.claimLabel(lang, c.Name), Preview: c.Preview}
		if c.Label != "" {
			cv.Label = c.Label
		}
		if c.Missing {
			v.Missing = append(v.Missing, cv)
			continue
		}
		if c.Essential {
			v.Essential = append(v.Essential, cv)
		} else {
			v.Optional = append(v.Optional, cv)
		}
	}
	setPageCSP(w, v.Client.LogoURI != "", true)
	s.render(w, r, http.StatusOK, "consent", page{Lang: lang, Title: "consent.title",
		Path: "/consent?" + url.Values{"id": {id}}.Encode(), Data: v})
}

// consentSubmit answers a pending request: action=allow with the optional
// claims the resident kept ticked (claim, repeated), or action=deny. The
// browser then goes to the client's redirect_uri — the one redirect off
// this site, to a URI the client registered.
func (s *Server) consentSubmit(w http.ResponseWriter, r *http.Request) {
	if s.OIDC == nil {
		s.notFound(w, r)
		return
	}
	if !s.parseForm(w, r) {
		return
	}
	id := interactionID(r.PostFormValue("id"))
	if id == "" {
		s.errorPage(w, r, http.StatusBadRequest, "consent.expired")
		return
	}
	sess, ok := s.consentSession(w, r, id)
	if !ok {
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	var (
		redirect string
		err      error
	)
	switch r.PostFormValue("action") {
	case "allow":
		var keep []string
		for _, c := range r.PostForm["claim"] {
			if c != "" && !slices.Contains(keep, c) {
				keep = append(keep, c)
			}
		}
		redirect, err = s.OIDC.Approve(ctx, id, sess, keep)
	case "deny":
		redirect, err = s.OIDC.Deny(ctx, id, sess)
	default:
		s.errorPage(w, r, http.StatusBadRequest, "err.bad_request")
		return
	}
	if err == nil && redirect == "" {
		err = errors.New("web: the provider returned no redirect")
	}
	if err != nil {
		s.interactionFailed(w, r, err, "consent answer")
		return
	}
	http.Redirect(w, r, redirect, http.StatusSeeOther)
}

// interactionFailed shows a provider error: a request that is gone is the
// resident's to retry from the service; anything else is ours.
func (s *Server) interactionFailed(w http.ResponseWriter, r *http.Request, err error, what string) {
	if errors.Is(err, interaction.ErrNotFound) {
		s.errorPage(w, r, http.StatusBadRequest, "consent.expired")
		return
	}
	s.Log.ErrorContext(r.Context(), what, "error", err)
	s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
}
