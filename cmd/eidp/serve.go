package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/idp/jwks"
	"eidp/internal/config"
	"eidp/internal/db"
	"eidp/internal/httpx"
	"eidp/vault"
	"eidp/vault/attr"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("serve", args, stdout, nil)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	// Libraries that log through the default logger (zitadel/oidc) log like us.
	slog.SetDefault(log)
	start := time.Now()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "eidp_build_info", Help: "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": versionString()},
	}, func() float64 { return 1 }))

	// Connect to everything before logging anything, so that a bad setting
	// stops the start with one line.
	database, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer database.Close()
	reg.MustRegister(collectors.NewDBStatsCollector(database.DB, "eidp"))
	km, err := openKeys(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	defer km.Close()
	if err := migrateDatabase(ctx, database, log); err != nil {
		return err
	}

	ring := keyring.New(database, km)
	key, created, err := ring.Ensure(ctx, keyring.OIDCSigning)
	if err != nil {
		return fmt.Errorf("token-signing key: %w", err)
	}
	if created {
		log.Info("created the token-signing key", "kid", key.ID, "algorithm", key.Algorithm, "uri", key.URI)
	}
	// RS256/PS256 for the relying parties that ask for them.
	rsaKey, created, err := ring.Ensure(ctx, keyring.OIDCSigningRSA)
	if err != nil {
		return fmt.Errorf("RSA token-signing key: %w", err)
	}
	if created {
		log.Info("created the RSA token-signing key", "kid", rsaKey.ID, "algorithm", rsaKey.Algorithm, "uri", rsaKey.URI)
	}
	// The vault's key-encryption key (AES-256 in the key backend).
	if kek, created, err := ring.Ensure(ctx, keyring.VaultKEK); err != nil {
		return fmt.Errorf("vault key-encryption key: %w", err)
	} else if created {
		log.Info("created the vault key-encryption key", "kid", kek.ID, "algorithm", kek.Algorithm, "uri", kek.URI)
	}
	vlt := vault.New(database, ring, km, vault.Options{SchemaVersion: attr.SchemaVersion, Log: log})
	keys := jwks.NewKeys(jwks.New(ring, km, jwks.Options{Log: log, Refresh: cfg.KeyRefresh}),
		jwks.New(ring, km, jwks.Options{Log: log, Refresh: cfg.KeyRefresh, Role: keyring.OIDCSigningRSA}))
	if err := keys.Refresh(ctx); err != nil {
		return fmt.Errorf("token-signing keys: %w", err)
	}
	// Rotations done by `eidp keys rotate` (on any node) take effect on
	// schedule: a published key starts signing, a retired one leaves JWKS.
	go every(ctx, log, keys.RefreshInterval(), map[string]func(context.Context) (int64, error){
		"key lifecycle": func(ctx context.Context) (int64, error) { return 0, ring.AdvanceAll(ctx) },
	})

	// Readiness signs with whichever key is active now, not the one of start-up.
	ready := &readiness{db: database, log: log, signer: func(ctx context.Context) (hsm.Signer, error) {
		_, s, err := ring.Signer(ctx, keyring.OIDCSigning)
		return s, err
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.Handle("GET /readyz", ready)
	if cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", httpx.MetricsHandler(reg))
	}
	if err := residentPages(ctx, cfg, database, ring, km, keys, vlt, log, mux); err != nil {
		return err
	}

	proxies, err := httpx.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return &config.SettingError{Setting: "trusted_proxies", Err: err}
	}
	metrics := httpx.NewMetrics(reg)
	handler := httpx.Chain(mux,
		httpx.RequestID(),
		httpx.TrustedProxies(proxies),
		httpx.AccessLog(log),
		metrics.Middleware(),
		httpx.Recover(log),
		httpx.SecurityHeaders(httpx.SecurityHeaderOptions{HSTS: httpsIssuer(cfg)}),
		httpx.LimitBody(cfg.MaxBodyBytes, documentBodyLimits(cfg)...),
	)
	opts := httpx.ServerOptions{
		ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout,
		IdleTimeout: cfg.IdleTimeout, ShutdownTimeout: cfg.ShutdownTimeout, MaxHeaderBytes: cfg.MaxHeaderBytes,
		TLSCertFile: cfg.TLSCertFile, TLSKeyFile: cfg.TLSKeyFile,
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return &config.SettingError{Setting: "addr", Err: err}
	}
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return &config.SettingError{Setting: "metrics_addr", Err: err}
		}
		metricsMux := http.NewServeMux()
		metricsMux.Handle("GET /metrics", httpx.MetricsHandler(reg))
		mopts := opts
		mopts.TLSCertFile, mopts.TLSKeyFile = "", ""
		wg.Go(func() { errc <- httpx.Serve(ctx, mln, metricsMux, mopts, log) })
		log.Info("serving metrics", "addr", mln.Addr().String())
	}
	scheme := "http"
	if cfg.TLSCertFile != "" {
		scheme = "https"
	}
	log.Info("eidp listening", "url", scheme+"://"+ln.Addr().String(), "issuer", cfg.Issuer,
		"env", cfg.Env, "database", database.Engine, "keys", km.Name(), "version", versionString(),
		"startup_ms", time.Since(start).Milliseconds())
	wg.Go(func() { errc <- httpx.Serve(ctx, ln, handler, opts, log) })
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return fmt.Errorf("http server: %w", err)
		}
	}
	log.Info("eidp stopped")
	return nil
}

func httpsIssuer(cfg *config.Config) bool {
	u, err := url.Parse(cfg.Issuer)
	return cfg.TLSCertFile != "" || (err == nil && u.Scheme == "https")
}

// readiness answers /readyz: the database answers and the key backend makes
// a signature that verifies. The result is cached briefly so that probes
// cannot turn into a load on the HSM.
type readiness struct {
	db     *db.DB
	signer func(context.Context) (hsm.Signer, error)
	log    *slog.Logger

	mu      sync.Mutex
	checked time.Time
	result  map[string]string
	ok      bool
}

const readinessCacheFor = time.Second

func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rd.mu.Lock()
	if time.Since(rd.checked) > readinessCacheFor {
		rd.result, rd.ok = rd.check(r.Context())
		rd.checked = time.Now()
	}
	result, ok := rd.result, rd.ok
	rd.mu.Unlock()
	status := http.StatusOK
	body := map[string]any{"status": "ready", "checks": result}
	if !ok {
		status = http.StatusServiceUnavailable
		body["status"] = "not ready"
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, status, body)
}

func (rd *readiness) check(ctx context.Context) (map[string]string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	result := map[string]string{"database": "ok", "keys": "ok"}
	ok := true
	if err := rd.db.PingContext(ctx); err != nil {
		rd.log.Error("readiness: database unreachable", "error", err)
		result["database"], ok = "failing", false
	}
	signer, err := rd.signer(ctx)
	if err == nil {
		err = testSignature(ctx, signer)
	}
	if err != nil {
		rd.log.Error("readiness: key backend test signature failed", "error", err)
		result["keys"], ok = "failing", false
	}
	return result, ok
}
