package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/idp/account"
	"eidp/idp/erasure"
	"eidp/idp/jwks"
	"eidp/idp/passkey"
	"eidp/idp/proofing"
	"eidp/idp/provider"
	"eidp/idp/session"
	"eidp/internal/config"
	"eidp/internal/db"
	"eidp/signing/ca"
	"eidp/vault"
	"eidp/vault/accesslog"
	"eidp/web"
)

// civilRegisters is the one place where register names map to constructors.
var civilRegisters = map[string]func() (proofing.CivilRegister, error){
	"demo": func() (proofing.CivilRegister, error) { return proofing.DemoRegister() },
}

// residentPages wires proofing, accounts, sessions and passkeys into the
// resident-facing pages and registers them on mux.
func residentPages(ctx context.Context, cfg *config.Config, d *db.DB, ring *keyring.Keyring, km hsm.KeyManager, keys *jwks.Keys, vlt *vault.Vault, log *slog.Logger, mux *http.ServeMux) error {
	open, ok := civilRegisters[cfg.CivilRegister]
	if !ok {
		return &config.SettingError{Setting: "civil_register", Msg: fmt.Sprintf("unknown register %q", cfg.CivilRegister)}
	}
	register, err := open()
	if err != nil {
		return &config.SettingError{Setting: "civil_register", Err: err}
	}
	if cfg.CivilRegister == "demo" {
		log.Warn("using the DEMO civil register of synthetic people — for development and tests only")
	}
	policy, err := passkeyPolicy(cfg)
	if err != nil {
		return err
	}
	passkeys, err := passkey.New(d, passkey.Config{
		RPID:          cfg.RPID(),
		RPDisplayName: "City eID",
		Origins:       cfg.Origins(),
		Policy:        policy,
	})
	if err != nil {
		return &config.SettingError{Setting: "webauthn_rp_id", Err: err}
	}
	secure := httpsIssuer(cfg)
	proofer := proofing.NewProofer(d, register, proofing.Limits{
		MaxFailuresPerIdentity: cfg.ProofingMaxFailures,
		MaxFailuresPerAddress:  cfg.ProofingMaxFailuresPerAddr,
		Window:                 cfg.ProofingWindow,
		Lockout:                cfg.ProofingLockout,
	})
	// Ending a session revokes its grants and logs its relying parties out
	// (the provider is built below; sessions end only once we serve).
	var prov *provider.Provider
	sessions := session.NewManager(d, session.Options{
		IdleTimeout: cfg.SessionIdleTimeout, AbsoluteTimeout: cfg.SessionAbsoluteTimeout, Secure: secure,
		OnEnd: func(ctx context.Context, residentID string, ids []string) error {
			return prov.SessionsEnded(ctx, residentID, ids)
		},
	})
	accounts := account.NewStore(d)
	pages, err := web.New(web.Deps{
		DB:       d,
		Proofer:  proofer,
		Accounts: accounts,
		Sessions: sessions,
		Passkeys: passkeys,
		Log:      log,
	}, web.Options{Secure: secure, CeremonyRateLimit: ceremonyRate(cfg.CeremonyRateLimit)})
	if err != nil {
		return err
	}
	accessLog := accesslog.New(d)
	if prov, err = openIDProvider(ctx, cfg, d, keys, sessions, accounts, vlt, accessLog, pages.AuthorizationError, log, mux); err != nil {
		return err
	}
	pages.OIDC = prov
	signing, err := signingServices(ctx, cfg, d, ring, km, accounts, prov, log, mux)
	if err != nil {
		return err
	}
	pages.Activations, pages.CA = signing.Activations, signing.CA
	pages.Vault = vlt
	pages.AccessLog = accessLog
	pages.DeleteAccount = (&erasure.Eraser{Accounts: accounts, Sessions: sessions, Vault: vlt,
		RevokeCertificates: func(ctx context.Context, residentID string) error {
			_, err := signing.CA.RevokeResident(ctx, residentID, ca.ReasonCessationOfOperation, "account deleted")
			return err
		}}).DeleteAccount
	pages.Register(mux)
	go every(ctx, log, sweepEvery, map[string]func(context.Context) (int64, error){
		"proofing failure counters": proofer.Sweep,
		"ended sessions":            sessions.Sweep,
		"old signing requests":      signing.Activations.Sweep,
	})
	return nil
}

// sweepEvery is how often expired rows are deleted. Every node sweeps; the
// deletes are idempotent, so nodes need no coordination.
const sweepEvery = 10 * time.Minute

// every runs each background job now and then every interval until ctx
// ends; a job returns how many rows it changed, for the log.
func every(ctx context.Context, log *slog.Logger, interval time.Duration, jobs map[string]func(context.Context) (int64, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for what, job := range jobs {
			n, err := job(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("background job failed", "job", what, "error", err)
			case n > 0:
				log.Info("background job", "job", what, "rows", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func passkeyPolicy(cfg *config.Config) (passkey.Policy, error) {
	p := passkey.Policy{
		Attestation:           cfg.PasskeyAttestation,
		DenyZeroAAGUID:        !cfg.PasskeyAllowZeroAAGUID,
		DenyBackupEligible:    !cfg.PasskeyAllowSynced,
		OnSignCountRegression: cfg.PasskeySignCountRegression,
	}
	for _, list := range []struct {
		setting string
		value   string
		into    *[]uuid.UUID
	}{
		{"passkey_aaguid_allow", cfg.PasskeyAAGUIDAllow, &p.AAGUIDAllow},
		{"passkey_aaguid_deny", cfg.PasskeyAAGUIDDeny, &p.AAGUIDDeny},
	} {
		for _, a := range config.AAGUIDs(list.value) {
			id, err := uuid.Parse(strings.TrimSpace(a))
			if err != nil {
				return p, &config.SettingError{Setting: list.setting, Msg: fmt.Sprintf("%q is not an AAGUID (a UUID)", a)}
			}
			*list.into = append(*list.into, id)
		}
	}
	return p, nil
}

// ceremonyRate maps the ceremony_rate_limit setting (0: off) to
// web.Options.CeremonyRateLimit (0: the default, negative: off).
func ceremonyRate(setting int) float64 {
	if setting == 0 {
		return -1
	}
	return float64(setting)
}
