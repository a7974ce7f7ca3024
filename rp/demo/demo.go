package demo

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Paths the handler serves. They are fixed: the client registration's
// redirect and post-logout URIs point here.
const (
	pathHome     = "/demo"
	pathLogin    = "/demo/login"
	pathCallback = "/demo/callback"
	pathLogout   = "/demo/logout"
	pathStatic   = "/demo/static/"
)

// ScopeIDCard is eidp's scope for the resident's identity-card number; the
// demo asks for it when the visitor ticks the box (query idcard=1).
const ScopeIDCard = "eidp:idcard"

// discoveryTimeout bounds one discovery attempt; httpTimeout bounds every
// other call to the provider when the caller gives no HTTPClient.
const (
	discoveryTimeout = 10 * time.Second
	httpTimeout      = 10 * time.Second
)

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("demo: invalid config")

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures the demo relying party.
type Config struct {
	Issuer       string // our issuer URL (discovery at Issuer + "/.well-known/openid-configuration")
	ClientID     string
	ClientSecret string       // client_secret_basic
	RedirectURL  string       // Issuer + "/demo/callback"; its origin + "/demo" is the post-logout redirect URI
	Scopes       []string     // default: openid profile; openid is always added
	HTTPClient   *http.Client // optional, for tests; default: a client with a 10 s timeout
	Secure       bool         // Secure cookies (https issuer)
	Logger       *slog.Logger // optional; default slog.Default(). Causes of failures go here, never tokens.
}

// Handler serves the demo's pages. Create it with New.
type Handler struct {
	cfg                   Config
	client                *http.Client
	log                   *slog.Logger
	postLogoutRedirectURL string
	sealer                *sealer
	pages                 pages
	now                   func() time.Time

	mu   sync.Mutex
	disc *discovered // nil until discovery succeeds
}

// discovered is what the handler learns from the provider's metadata.
type discovered struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    *oauth2.Config
	// endSession is the RP-Initiated Logout 1.0 §2.1 end_session_endpoint,
	// empty if the provider has none.
	endSession string
	// issParamRequired is RFC 9207 §3's
	// authorization_response_iss_parameter_supported.
	issParamRequired bool
}

// New checks cfg and prepares the handler. It makes no network call:
// discovery happens on first use.
func New(cfg Config) (*Handler, error) {
	if err := checkAbsoluteURL("Issuer", cfg.Issuer); err != nil {
		return nil, err
	}
	if err := checkAbsoluteURL("RedirectURL", cfg.RedirectURL); err != nil {
		return nil, err
	}
	redirect, _ := url.Parse(cfg.RedirectURL)
	if redirect.Path != pathCallback {
		return nil, fmt.Errorf("%w: RedirectURL must end in %s (the handler serves it there), got path %q", ErrConfig, pathCallback, redirect.Path)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, fmt.Errorf("%w: ClientID and ClientSecret are required (client_secret_basic)", ErrConfig)
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "profile"}
	}
	if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	cfg.Scopes = slices.Clone(cfg.Scopes)

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("demo: cookie key: %w", err)
	}
	s, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	h := &Handler{
		cfg:                   cfg,
		client:                cfg.HTTPClient,
		log:                   cfg.Logger,
		postLogoutRedirectURL: (&url.URL{Scheme: redirect.Scheme, Host: redirect.Host, Path: pathHome}).String(),
		sealer:                s,
		pages:                 p,
		now:                   time.Now,
	}
	if h.client == nil {
		h.client = &http.Client{Timeout: httpTimeout}
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

func checkAbsoluteURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || u.RawQuery != "" {
		return fmt.Errorf("%w: %s must be an absolute http(s) URL without query or fragment, got %q", ErrConfig, field, raw)
	}
	return nil
}

// Register mounts the demo's routes on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+pathHome, h.home)
	mux.HandleFunc("GET "+pathHome+"/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, pathHome, http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET "+pathLogin, h.login)
	mux.HandleFunc("GET "+pathCallback, h.callback)
	mux.HandleFunc("POST "+pathLogout, h.logout)
	static, _ := fs.Sub(staticFS, "static") // cannot fail: the directory is embedded
	files := http.StripPrefix(pathStatic, http.FileServerFS(static))
	mux.Handle("GET "+pathStatic, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
}

// ctx gives go-oidc and oauth2 our HTTP client.
func (h *Handler) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, h.client)
}

// provider returns the discovered provider, running discovery if it has not
// succeeded yet (OpenID Connect Discovery 1.0 §4). A failure is not cached:
// the next request tries again.
func (h *Handler) provider(ctx context.Context) (*discovered, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.disc != nil {
		return h.disc, nil
	}
	ctx, cancel := context.WithTimeout(h.ctx(ctx), discoveryTimeout)
	defer cancel()
	// go-oidc checks that the metadata's issuer equals cfg.Issuer exactly
	// (Discovery §4.3) and keeps our client for later JWKS fetches.
	p, err := oidc.NewProvider(ctx, h.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("demo: discovery: %w", err)
	}
	var meta struct {
		EndSessionEndpoint string `json:"end_session_endpoint"`
		ISSParameter       bool   `json:"authorization_response_iss_parameter_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("demo: discovery metadata: %w", err)
	}
	endpoint := p.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInHeader // client_secret_basic, RFC 6749 §2.3.1
	h.disc = &discovered{
		provider: p,
		verifier: p.Verifier(&oidc.Config{ClientID: h.cfg.ClientID, Now: func() time.Time { return h.now() }}),
		oauth: &oauth2.Config{
			ClientID:     h.cfg.ClientID,
			ClientSecret: h.cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  h.cfg.RedirectURL,
			Scopes:       h.cfg.Scopes,
		},
		endSession:       meta.EndSessionEndpoint,
		issParamRequired: meta.ISSParameter,
	}
	return h.disc, nil
}
