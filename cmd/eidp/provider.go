package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"eidp/idp/account"
	"eidp/idp/admin"
	"eidp/idp/client"
	"eidp/idp/clientauth"
	"eidp/idp/consent"
	"eidp/idp/grant"
	"eidp/idp/jwks"
	"eidp/idp/logout"
	"eidp/idp/provider"
	"eidp/idp/session"
	"eidp/idp/subject"
	"eidp/internal/config"
	"eidp/internal/db"
	"eidp/internal/fetch"
	"eidp/rp/demo"
	"eidp/vault"
	"eidp/vault/accesslog"
	"eidp/web"
)

// openIDProvider wires the OpenID Provider, the admin API and (in
// development) the demo relying party, and registers them on mux.
func openIDProvider(ctx context.Context, cfg *config.Config, d *db.DB, keys *jwks.Keys, sessions *session.Manager,
	accounts *account.Store, vlt *vault.Vault, accessLog *accesslog.Log, errorPage func(http.ResponseWriter, *http.Request, int, string, string),
	log *slog.Logger, mux *http.ServeMux) (*provider.Provider, error) {
	secret, err := loadSubjectSecret(cfg, log)
	if err != nil {
		return nil, err
	}
	subjects, err := subject.NewPairwise(secret)
	if err != nil {
		return nil, &config.SettingError{Setting: "subject_secret_file", Err: err}
	}
	// Outbound fetches (client jwks_uri, back-channel logout): https and
	// public addresses only, except in development.
	fetcher := outboundFetcher(cfg)
	clients := client.NewStore(d, client.Options{Production: cfg.Production()})
	auth := clientauth.New(d, clients, clientauth.Options{
		Issuer: cfg.Issuer, Fetcher: fetcher,
		Audiences: []string{cfg.Issuer + provider.PathToken, cfg.Issuer + provider.PathPAR,
			cfg.Issuer + provider.PathIntrospect, cfg.Issuer + provider.PathRevoke},
	})
	var prov *provider.Provider
	notifier := logout.New(d, clients, func(ctx context.Context, alg, typ string, claims map[string]any) (string, error) {
		return prov.SignLogoutToken(ctx, alg, typ, claims)
	}, logout.Options{Issuer: cfg.Issuer, Fetcher: fetcher, Log: log})
	prov, err = provider.New(provider.Deps{
		Clients: clients, ClientAuth: auth, Grants: grant.NewStore(d), ConsentStore: consent.NewStore(d),
		Accounts: accounts, Sessions: sessions, Keys: keys, Subjects: subjects, Logout: notifier,
		ErrorPage: errorPage, Language: web.Language, Vault: vlt, AccessLog: accessLog,
	}, provider.Options{
		Issuer: cfg.Issuer, AccessTokenLifetime: cfg.AccessTokenLifetime, IDTokenLifetime: cfg.IDTokenLifetime,
		RefreshTokenLifetime: cfg.RefreshTokenLifetime, RequirePAR: cfg.RequirePAR,
		TokenRateLimit: float64(cfg.TokenRateLimit), Log: log,
	})
	if err != nil {
		return nil, err
	}
	prov.Register(mux)
	adminAPI := admin.New(clients, prov.AdminAuthorize, log)
	adminAPI.CheckSectorIdentifier = func(ctx context.Context, uri string, redirects []string) error {
		return subject.ValidateSectorIdentifierURI(ctx, fetcher, uri, redirects)
	}
	adminAPI.Register(mux)
	go notifier.Run(ctx)
	go every(ctx, log, sweepEvery, map[string]func(context.Context) (int64, error){
		"expired grants, codes and requests": prov.Sweep,
	})
	if !cfg.Production() {
		if err := demoRP(ctx, cfg, clients, log, mux); err != nil {
			return nil, err
		}
	}
	return prov, nil
}

// outboundFetcher fetches what clients publish (jwks_uri,
// sector_identifier_uri) and posts back-channel logouts: https and public
// addresses only, except in development.
func outboundFetcher(cfg *config.Config) *fetch.Fetcher {
	return fetch.New(fetch.Options{AllowHTTP: !cfg.Production(), AllowPrivateNetworks: !cfg.Production()})
}

// loadSubjectSecret reads the pairwise-subject secret; in development it
// is created on first start. In production it must exist: every node needs
// the same one, and a new one would change every subject relying parties
// know.
func loadSubjectSecret(cfg *config.Config, log *slog.Logger) ([]byte, error) {
	path := cfg.SubjectSecretPath()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !cfg.Production() {
		b = make([]byte, 32)
		rand.Read(b)
		if err = os.MkdirAll(filepath.Dir(path), 0o700); err == nil {
			err = os.WriteFile(path, b, 0o600)
		}
		if err == nil {
			log.Warn("created a new pairwise-subject secret; keep it with the data directory", "path", path)
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &config.SettingError{Setting: "subject_secret_file",
			Msg: fmt.Sprintf("%s does not exist: create it once (head -c 32 /dev/urandom > FILE, mode 0600) and give every node the same file", path)}
	}
	if err != nil {
		return nil, &config.SettingError{Setting: "subject_secret_file", Err: err}
	}
	return b, nil
}

// demoClientID is the demo relying party's client, registered at start in
// development.
const demoClientID = "eidp-demo"

// demoRP registers (or refreshes) the demo client with a new secret and
// serves the demo relying party at /demo.
func demoRP(ctx context.Context, cfg *config.Config, clients *client.Store, log *slog.Logger, mux *http.ServeMux) error {
	md := client.Client{
		ClientID: demoClientID, ClientName: "Demo department service", ClientNameZH: "示範部門服務",
		Purpose:                 "Shows what a city service receives from eidp after you log in (development only).",
		PurposeZH:               "示範城市服務在你登入後從 eidp 收到的資料（只在開發模式）。",
		RedirectURIs:            []string{cfg.Issuer + "/demo/callback"},
		PostLogoutRedirectURIs:  []string{originOf(cfg.Issuer) + "/demo"},
		GrantTypes:              []string{client.GrantAuthorizationCode},
		ResponseTypes:           []string{client.ResponseTypeCode},
		TokenEndpointAuthMethod: client.AuthClientSecretBasic,
		Scope:                   "openid profile address phone email " + client.ScopeIDCard,
		AllowIDCard:             true,
		SubjectType:             client.SubjectPairwise,
	}
	var secret string
	_, err := clients.Get(ctx, demoClientID)
	switch {
	case errors.Is(err, client.ErrNotFound):
		_, secret, err = clients.Create(ctx, md)
	case err == nil:
		if _, _, err = clients.Update(ctx, md); err == nil {
			secret, err = clients.RotateSecret(ctx, demoClientID)
		}
	}
	if err != nil {
		return fmt.Errorf("demo relying party: %w", err)
	}
	h, err := demo.New(demo.Config{Issuer: cfg.Issuer, ClientID: demoClientID, ClientSecret: secret,
		RedirectURL: cfg.Issuer + "/demo/callback", Scopes: []string{"openid", "profile", "address", "phone", "email"}, Secure: strings.HasPrefix(cfg.Issuer, "https://"), Logger: log})
	if err != nil {
		return fmt.Errorf("demo relying party: %w", err)
	}
	h.Register(mux)
	return nil
}

func originOf(u string) string {
	scheme, rest, _ := strings.Cut(u, "://")
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}
