package web

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"eidp/idp/account"
	"eidp/idp/interaction"
	"eidp/idp/passkey"
	"eidp/idp/proofing"
	"eidp/idp/session"
	"eidp/internal/db"
	"eidp/internal/httpx"
	"eidp/signing/activation"
	"eidp/signing/ca"
	"eidp/vault"
	"eidp/vault/accesslog"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Deps are the services the pages use.
type Deps struct {
	DB       *db.DB
	Proofer  *proofing.Proofer
	Accounts *account.Store
	Sessions *session.Manager
	Passkeys *passkey.Service
	// OIDC is the OpenID Provider's side of consent (nil: the provider is
	// not wired in; /consent is then not found and the account page has
	// no connected services).
	OIDC interaction.Service
	// Vault is the personal-data vault (nil: no My data pages).
	Vault *vault.Vault
	// AccessLog lists what services read from the vault (nil: the My data
	// page shows no access log).
	AccessLog *accesslog.Log
	// DeleteAccount deletes a resident's account and everything of it but
	// the access log: it ends every session (with back-channel logout),
	// withdraws consents and tokens, erases the vault, deletes passkeys and
	// the account (nil: residents cannot delete their account here).
	DeleteAccount func(ctx context.Context, residentID string) error
	// Activations are the signing requests that residents approve with a
	// passkey, and CA issues and revokes their signing certificates (either
	// nil: no signing pages, and no signing section on the account page).
	Activations *activation.Store
	CA          *ca.Authority
	Log         *slog.Logger
}

// Options tune the pages.
type Options struct {
	// Secure marks cookies Secure (the site is served over HTTPS).
	Secure bool
	// CeremonyRateLimit is how many passkey API calls per second one
	// client address may make, with a burst of 15 times that: 0 takes
	// DefaultCeremonyRateLimit, a negative value turns the limit off (a
	// load generator that logs in thousands of residents from one address).
	CeremonyRateLimit float64
}

// DefaultCeremonyRateLimit is Options.CeremonyRateLimit when zero: a burst
// of 30 calls, then 2 a second (a login is two calls).
const DefaultCeremonyRateLimit = 2

// Server is the resident-facing web application.
type Server struct {
	Deps
	secure   bool
	msgs     catalog
	pages    map[string]map[string]*template.Template // page → language → template
	flows    flows
	now      func() time.Time
	static   http.Handler
	maxJSON  int64
	maxForms int64

	// Per-address limits in front of the durable ones: a ceremony stores a
	// challenge, proofing asks the civil register. Generous enough for a
	// household behind one address. ceremonyLimit is nil when turned off.
	ceremonyLimit *httpx.RateLimiter
	proofingLimit *httpx.RateLimiter
}

// pageNames are the templates rendered inside layout.html.
var pageNames = []string{"welcome", "register", "passkey", "codes", "login", "account", "recover", "error", "consent", "logout",
	"data", "data_edit", "data_erase", "delete", "deleted", "sign", "sign_account"}

// New parses templates and messages; a broken template or a missing
// translation fails here, at start, not on a resident's phone.
func New(d Deps, opts Options) (*Server, error) {
	msgs, err := loadCatalog()
	if err != nil {
		return nil, err
	}
	s := &Server{Deps: d, secure: opts.Secure, msgs: msgs, now: time.Now, maxJSON: 64 << 10, maxForms: 16 << 10,
		proofingLimit: httpx.NewRateLimiter(0.2, 20)}
	switch rate := opts.CeremonyRateLimit; {
	case rate == 0:
		s.ceremonyLimit = httpx.NewRateLimiter(DefaultCeremonyRateLimit, 15*DefaultCeremonyRateLimit)
	case rate > 0:
		s.ceremonyLimit = httpx.NewRateLimiter(rate, 15*rate)
	}
	s.flows = flows{db: d.DB, now: func() time.Time { return s.now() }}
	// One template per page and language, its language's functions bound
	// once: html/template escapes a template on its first execution, and
	// a per-request Clone would escape it again on every page view.
	s.pages = map[string]map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(s.funcs()).Funcs(s.signingFuncs()).ParseFS(templateFiles, "templates/layout.html", "templates/partials.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		s.pages[name] = map[string]*template.Template{}
		for _, lang := range languages {
			lt, err := t.Clone()
			if err != nil {
				return nil, fmt.Errorf("web: template %s: %w", name, err)
			}
			s.pages[name][lang] = lt.Funcs(s.langFuncs(lang))
		}
	}
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	s.static = http.StripPrefix("/static/", cacheStatic(http.FileServerFS(sub)))
	return s, nil
}

// Register adds the pages and the ceremony API to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle("GET /static/", s.static)
	mux.HandleFunc("GET /{$}", s.welcome)
	mux.HandleFunc("GET /register", s.registerForm)
	mux.Handle("POST /register", s.proofingLimit.Middleware(http.HandlerFunc(s.registerSubmit)))
	mux.HandleFunc("GET /register/passkey", s.registerPasskey)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /logout/confirm", s.logoutConfirm)
	mux.HandleFunc("GET /account", s.accountPage)
	mux.HandleFunc("POST /account/passkeys/rename", s.renamePasskey)
	mux.HandleFunc("POST /account/passkeys/remove", s.removePasskey)
	mux.HandleFunc("POST /account/sessions/revoke", s.revokeSession)
	mux.HandleFunc("POST /account/sessions/revoke-others", s.revokeOtherSessions)
	mux.HandleFunc("POST /account/recovery-codes", s.newRecoveryCodes)
	mux.HandleFunc("POST /account/consents/revoke", s.revokeConsent)
	mux.HandleFunc("GET /account/data", s.dataPage)
	mux.HandleFunc("GET /account/data/edit", s.editPage)
	mux.HandleFunc("POST /account/data/edit", s.editSubmit)
	mux.HandleFunc("POST /account/data/remove", s.removeAttribute)
	mux.HandleFunc("GET /account/data/erase", s.eraseConfirm)
	mux.HandleFunc("POST /account/data/erase", s.eraseSubmit)
	mux.HandleFunc("GET /account/delete", s.deletePage)
	mux.HandleFunc("POST /account/delete", s.deleteSubmit)
	mux.HandleFunc("GET /consent", s.consentPage)
	mux.HandleFunc("POST /consent", s.consentSubmit)
	mux.HandleFunc("GET /recover", s.recoverForm)
	mux.Handle("POST /recover", s.proofingLimit.Middleware(http.HandlerFunc(s.recoverSubmit)))
	mux.HandleFunc("GET /recover/passkey", s.recoverPasskey)
	mux.HandleFunc("POST /lang", s.switchLanguage)
	mux.HandleFunc("GET /sign", s.signPage)
	mux.HandleFunc("POST /sign/deny", s.signDeny)
	mux.HandleFunc("GET /account/signing", s.signingPage)
	mux.HandleFunc("GET /account/signing/certificate.pem", s.signingCertificatePEM)
	mux.HandleFunc("POST /account/signing/revoke", s.signingRevoke)

	api := func(pattern string, h http.HandlerFunc) {
		if s.ceremonyLimit == nil {
			mux.Handle(pattern, h)
			return
		}
		mux.Handle(pattern, s.ceremonyLimit.Middleware(h))
	}
	api("POST /api/passkey/register/options", s.apiRegisterOptions)
	api("POST /api/passkey/register", s.apiRegister)
	api("POST /api/passkey/login/options", s.apiLoginOptions)
	api("POST /api/passkey/login", s.apiLogin)
	api("POST /api/passkey/reauth/options", s.apiReauthOptions)
	api("POST /api/passkey/reauth", s.apiReauth)
	api("POST /api/sign/options", s.apiSignOptions)
	api("POST /api/sign/approve", s.apiSignApprove)
	api("POST /api/sign/enrol/options", s.apiEnrolOptions)
	api("POST /api/sign/enrol", s.apiEnrol)
	mux.HandleFunc("/", s.notFound)
}

// notFound answers unknown paths with a page in the resident's language.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusNotFound, "error.not_found")
}

// cacheStatic lets browsers keep assets briefly; they are embedded, so a
// new binary is the only way they change.
func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// actionTimeout bounds a state-changing action once it has started.
const actionTimeout = 15 * time.Second

// actionContext is the context for the writes of one action. A client that
// goes away mid-action must not leave half of it done (a passkey removed but
// not logged), so it is not cancelled with the request, only bounded in time.
func actionContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), actionTimeout)
}
