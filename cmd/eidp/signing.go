package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/idp/account"
	"eidp/idp/client"
	"eidp/idp/provider"
	"eidp/internal/config"
	"eidp/internal/db"
	"eidp/internal/httpx"
	"eidp/signing/activation"
	"eidp/signing/ca"
	"eidp/signing/csc"
	"eidp/signing/tsa"
	"eidp/signing/verify"
)

// signingParts are the remote-signing services the pages also use.
type signingParts struct {
	CA          *ca.Authority
	Activations *activation.Store
	CSC         *csc.Service
}

// tsaPolicy is the time-stamping policy of eidp's TSA: an OID in the UUID
// arc (ITU-T X.667), like the CA's certificate policy.
const tsaPolicy = "2.25.301675463513418934196587113384290541822"

// caConfig is the CA's configuration from eidp's.
func caConfig(cfg *config.Config) ca.Config {
	return ca.Config{BaseURL: cfg.Issuer, Organization: cfg.CAOrganization, Country: cfg.CACountry, CPSURI: cfg.CACPSURI}
}

// signingServices wires the CA (its hierarchy is created at the first
// start, like the token-signing keys), the TSA, signing requests and the
// CSC API, and registers /pki/, /tsa and /csc/v2/ on mux.
func signingServices(ctx context.Context, cfg *config.Config, d *db.DB, ring *keyring.Keyring, km hsm.KeyManager,
	accounts *account.Store, prov *provider.Provider, log *slog.Logger, mux *http.ServeMux) (signingParts, error) {
	authority, err := ca.New(d, ring, km, caConfig(cfg), ca.WithLogger(log))
	if err != nil {
		return signingParts{}, &config.SettingError{Setting: "ca_organization, ca_country, ca_cps_uri", Err: err}
	}
	h, err := authority.Init(ctx)
	if err != nil {
		return signingParts{}, fmt.Errorf("CA: %w", err)
	}
	log.Info("CA ready", "root", h.Root.Subject.String(), "issuing", h.Issuing.Subject.String())
	tsaKey, tsaCert, tsaChain, err := authority.TSA(ctx)
	if err != nil {
		return signingParts{}, fmt.Errorf("TSA: %w", err)
	}
	policy, err := x509.ParseOID(tsaPolicy)
	if err != nil {
		return signingParts{}, err
	}
	stamper, err := tsa.New(tsaKey, tsaCert, tsaChain, policy)
	if err != nil {
		return signingParts{}, fmt.Errorf("TSA: %w", err)
	}
	activations := activation.New(d)
	clients := client.NewStore(d, client.Options{Production: cfg.Production()})
	svc, err := csc.New(csc.Deps{
		Tokens: prov, CA: authority, Activations: activations, TSA: stamper, Accounts: accounts, Log: log,
		ClientNames: func(ctx context.Context, clientID string) (string, string, error) {
			c, err := clients.Get(ctx, clientID)
			if err != nil {
				return "", "", err
			}
			en, _ := c.Localized("en")
			zh, _ := c.Localized("zh-Hant")
			return en, zh, nil
		},
	}, csc.Options{Issuer: cfg.Issuer, MaxDocument: cfg.MaxDocumentBytes})
	if err != nil {
		return signingParts{}, err
	}
	mux.Handle("/pki/", authority.Handler())
	mux.Handle("POST /tsa", stamper)
	mux.Handle(csc.Prefix, svc.Handler())
	// POST /signing/verify: anyone may check a signed document against our
	// root, with our CA's own status records.
	verifier := &verify.Verifier{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(), Status: verify.AuthorityStatus(authority, h.Root, h.Issuing)}
	verifier.Roots.AddCert(h.Root)
	verifier.Intermediates.AddCert(h.Issuing)
	mux.Handle("POST /signing/verify", verify.Handler(verifier, cfg.MaxDocumentBytes))
	prov.Signing = svc
	return signingParts{CA: authority, Activations: activations, CSC: svc}, nil
}

// documentBodyLimits lets the two endpoints that take whole documents read
// bodies larger than max_body_bytes: signDoc's JSON carries documents in
// base64 (4/3 of their size, with room for the rest of the request); the
// handlers check the documents themselves against max_document_bytes.
func documentBodyLimits(cfg *config.Config) []httpx.PathLimit {
	signDoc := cfg.MaxDocumentBytes*4/3 + 64<<10
	return []httpx.PathLimit{
		{Path: csc.Prefix + "signatures/signDoc", Max: max(cfg.MaxBodyBytes, signDoc)},
		{Path: "/signing/verify", Max: max(cfg.MaxBodyBytes, cfg.MaxDocumentBytes+64<<10)},
	}
}
