package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"

	"eidp/idp/account"
	"eidp/idp/client"
	"eidp/idp/clientauth"
	"eidp/idp/consent"
	"eidp/idp/grant"
	"eidp/idp/interaction"
	"eidp/idp/jwks"
	"eidp/idp/logout"
	"eidp/idp/session"
	"eidp/idp/subject"
	"eidp/internal/httpx"
	"eidp/vault"
	"eidp/vault/accesslog"
)

// Endpoint paths, relative to the issuer.
const (
	PathAuthorize     = "/authorize"
	PathResume        = "/authorize/resume"
	PathPAR           = "/par"
	PathToken         = "/token"
	PathUserinfo      = "/userinfo"
	PathIntrospect    = "/introspect"
	PathRevoke        = "/revoke"
	PathEndSession    = "/end_session"
	PathJWKS          = "/jwks"
	PathDiscovery     = "/.well-known/openid-configuration"
	PathLogin         = "/login"
	PathConsent       = "/consent"
	requestURIPrefix  = "urn:ietf:params:oauth:request_uri:"
	codeTTL           = 60 * time.Second
	parTTL            = 60 * time.Second
	interactiveTTL    = 15 * time.Minute
	maxRequestParam   = 16 << 10
	maxStateLen       = 2048
	maxNonceLen       = 512
	scopeOpenID       = "openid"
	scopeOffline      = "offline_access"
	scopeAdmin        = "eidp:admin"
	scopeCredential   = "credential"
	scopeService      = "service" // CSC API v2: access to the signing service's credential listing
	tokenTypeBearer   = "Bearer"
	typAccessToken    = "at+jwt"
	accessTokenAlg    = "ES256"
	defaultIDTokenAlg = "ES256"
)

// Options are the provider's settings.
type Options struct {
	Issuer string // public base URL, no trailing slash
	// Lifetimes (defaults: access and ID tokens 10 min, refresh tokens 12 h).
	AccessTokenLifetime  time.Duration
	IDTokenLifetime      time.Duration
	RefreshTokenLifetime time.Duration
	// RequirePAR refuses authorization requests that were not pushed
	// (RFC 9126 §5 require_pushed_authorization_requests, server-wide).
	RequirePAR bool
	// TokenRateLimit is token requests per second allowed per client
	// address (burst: twice that); 0 turns the limit off.
	TokenRateLimit float64
	Now            func() time.Time
	Log            *slog.Logger
}

// Deps are the stores and services the provider works with.
type Deps struct {
	Clients      *client.Store
	ClientAuth   *clientauth.Authenticator
	Grants       *grant.Store
	ConsentStore *consent.Store
	Accounts     *account.Store
	Sessions     *session.Manager
	Keys         *jwks.Keys
	Subjects     *subject.Pairwise
	Logout       *logout.Notifier
	// ErrorPage shows an authorization error to the resident when the
	// browser cannot be sent back to the client (web.Server.AuthorizationError).
	ErrorPage func(w http.ResponseWriter, r *http.Request, status int, code, description string)
	// Vault and AccessLog release vault claims (nil: no vault claims).
	Vault     *vault.Vault
	AccessLog *accesslog.Log
	// Signing serves credential authorizations (scope=credential; nil:
	// the scope is refused).
	Signing interaction.Signing
	// Language is the resident's page language for a request (web.Language):
	// the locale claim when the client sent no ui_locales.
	Language func(r *http.Request) string
}

// Provider is the OpenID Provider.
type Provider struct {
	Deps
	opts Options
	log  *slog.Logger
	now  func() time.Time

	tokenLimit *httpx.RateLimiter
}

// New returns a provider. It does no I/O.
func New(d Deps, opts Options) (*Provider, error) {
	if opts.Issuer == "" || strings.HasSuffix(opts.Issuer, "/") {
		return nil, fmt.Errorf("provider: issuer %q must be set and have no trailing slash", opts.Issuer)
	}
	if d.Clients == nil || d.ClientAuth == nil || d.Grants == nil || d.ConsentStore == nil || d.Accounts == nil ||
		d.Sessions == nil || d.Keys == nil || d.Subjects == nil || d.Logout == nil || d.ErrorPage == nil || d.Language == nil {
		return nil, errors.New("provider: missing dependency")
	}
	if (d.Vault == nil) != (d.AccessLog == nil) {
		return nil, errors.New("provider: the vault needs its access log, and the other way round")
	}
	if opts.AccessTokenLifetime <= 0 {
		opts.AccessTokenLifetime = 10 * time.Minute
	}
	if opts.IDTokenLifetime <= 0 {
		opts.IDTokenLifetime = 10 * time.Minute
	}
	if opts.RefreshTokenLifetime <= 0 {
		opts.RefreshTokenLifetime = 12 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	p := &Provider{Deps: d, opts: opts, log: opts.Log, now: opts.Now}
	if opts.TokenRateLimit > 0 {
		p.tokenLimit = httpx.NewRateLimiter(opts.TokenRateLimit, 2*opts.TokenRateLimit)
	}
	return p, nil
}

// url is the absolute URL of a path of ours.
func (p *Provider) url(path string) string { return p.opts.Issuer + path }

// Register mounts the provider's endpoints on mux. Token, introspection
// and revocation go through zitadel/oidc's op.Server HTTP layer (form
// parsing, client-credential extraction, OAuth error bodies); the
// authorization, PAR, userinfo, end-session, discovery and JWKS endpoints
// are ours, for what zitadel/oidc lacks (PAR, request_uri, RFC 9207 iss,
// pairwise subjects, the error page for residents).
func (p *Provider) Register(mux *http.ServeMux) {
	zs := op.RegisterServer(&server{p: p}, op.Endpoints{
		Token:         op.NewEndpoint(PathToken),
		Introspection: op.NewEndpoint(PathIntrospect),
		Revocation:    op.NewEndpoint(PathRevoke),
	}, op.WithServerCORSOptions(nil))
	backChannel := postOnly(p.noStore(oauthErrors(zs)))
	// Browser-based public clients (single-page apps) call the token,
	// revocation and userinfo endpoints from their own origin: CORS without
	// credentials (no cookie is involved; the request carries the code,
	// the token or the client's credentials).
	mux.Handle(PathToken, cors(p.limitTokens(backChannel)))
	mux.Handle(PathIntrospect, backChannel)
	mux.Handle(PathRevoke, cors(backChannel))
	mux.HandleFunc(PathAuthorize, p.authorize)
	mux.HandleFunc("GET "+PathResume, p.resume)
	mux.Handle("POST "+PathPAR, p.noStore(http.HandlerFunc(p.par)))
	mux.Handle(PathUserinfo, cors(http.HandlerFunc(p.userinfo)))
	mux.HandleFunc(PathEndSession, p.endSession)
	mux.HandleFunc("GET "+PathDiscovery, p.discovery)
	mux.Handle("GET "+PathJWKS, p.Keys)
}

// cors answers CORS preflights and lets any origin read the response. No
// cookies are ever sent or honoured on these endpoints
// (Access-Control-Allow-Credentials is not set), so this exposes nothing
// a server-side caller could not get.
func cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") == "" {
			h.ServeHTTP(w, r)
			return
		}
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", "*")
		hd.Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			hd.Set("Access-Control-Allow-Methods", "GET, POST")
			hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			hd.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// postOnly refuses anything but POST, and credentials or tokens in the
// query string (RFC 6749 §2.3.1, §3.2: they belong in the body or header).
func postOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
			return
		}
		if r.URL.RawQuery != "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "parameters belong in the request body, not the URL")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// noStore marks responses that carry tokens or secrets as uncacheable
// (RFC 6749 §5.1).
func (p *Provider) noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// limitTokens rate-limits the token endpoint per client address.
func (p *Provider) limitTokens(h http.Handler) http.Handler {
	if p.tokenLimit == nil {
		return h
	}
	return p.tokenLimit.Middleware(h)
}

// writeOAuthError writes an OAuth error body (RFC 6749 §5.2).
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	httpx.WriteError(w, status, code, safeDescription(description))
}

// Sweep removes expired state. Call it now and then.
func (p *Provider) Sweep(ctx context.Context) (int64, error) {
	n, err := p.Grants.Sweep(ctx)
	if err != nil {
		return n, err
	}
	m, err := p.ClientAuth.Sweep(ctx)
	return n + m, err
}
