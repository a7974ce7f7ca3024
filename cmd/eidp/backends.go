package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"eidp/hsm"
	"eidp/hsm/pkcs11"
	"eidp/hsm/soft"
	"eidp/internal/config"
	"eidp/internal/db"
)

// keyBackends is the one place where backend names map to constructors.
var keyBackends = map[string]func(ctx context.Context, cfg *config.Config, log *slog.Logger) (hsm.KeyManager, error){
	"soft":   openSoft,
	"pkcs11": openPKCS11,
}

var (
	_ hsm.KeyManager = (*soft.Soft)(nil)
	_ hsm.KeyManager = (*pkcs11.Backend)(nil)
)

func openSoft(ctx context.Context, cfg *config.Config, log *slog.Logger) (hsm.KeyManager, error) {
	key, created, err := soft.LoadOrCreateMasterKey(cfg.MasterKey, cfg.MasterKeyPath())
	if err != nil {
		setting := "master_key_file"
		if cfg.MasterKey != "" {
			setting = "master_key"
		}
		return nil, &config.SettingError{Setting: setting, Err: err}
	}
	if created {
		log.Warn("created a new soft-backend master key; back it up with the data directory", "path", cfg.MasterKeyPath())
	}
	km, err := soft.Open(ctx, soft.Options{Dir: cfg.SoftKeyPath(), MasterKey: key})
	if err != nil {
		if errors.Is(err, hsm.ErrAuth) {
			return nil, &config.SettingError{Setting: "master_key_file", Err: err}
		}
		return nil, &config.SettingError{Setting: "soft_key_dir", Err: err}
	}
	log.Warn("using the SOFT key backend: keys are files sealed under a master key, not in an HSM — for development only",
		"dir", cfg.SoftKeyPath())
	return km, nil
}

func openPKCS11(ctx context.Context, cfg *config.Config, log *slog.Logger) (hsm.KeyManager, error) {
	pin, err := pkcs11.ReadPIN(cfg.PKCS11PIN, cfg.PKCS11PINFile)
	if err != nil {
		return nil, &config.SettingError{Setting: "pkcs11_pin_file", Err: err}
	}
	km, err := pkcs11.Open(ctx, pkcs11.Options{Module: cfg.PKCS11Module, TokenLabel: cfg.PKCS11Token, PIN: pin, Sessions: cfg.PKCS11Sessions})
	if err != nil {
		setting := "key_backend" // e.g. a build without cgo
		switch {
		case errors.Is(err, hsm.ErrAuth):
			setting = "pkcs11_pin_file"
		case errors.Is(err, pkcs11.ErrTokenNotFound):
			setting = "pkcs11_token"
		case errors.Is(err, pkcs11.ErrModule):
			setting = "pkcs11_module"
		}
		return nil, &config.SettingError{Setting: setting, Err: err}
	}
	log.Info("using the PKCS#11 key backend", "module", cfg.PKCS11Module, "token", cfg.PKCS11Token, "sessions", cfg.PKCS11Sessions)
	return km, nil
}

// openKeys opens the configured key backend; with reg non-nil every
// operation is measured.
func openKeys(ctx context.Context, cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (hsm.KeyManager, error) {
	open, ok := keyBackends[cfg.KeyBackend]
	if !ok {
		return nil, &config.SettingError{Setting: "key_backend", Msg: fmt.Sprintf("unknown backend %q", cfg.KeyBackend)}
	}
	km, err := open(ctx, cfg, log)
	if err != nil || reg == nil {
		return km, err
	}
	return hsm.Observe(km, hsmObserver(reg, km.Name())), nil
}

func hsmObserver(reg prometheus.Registerer, backend string) hsm.Observer {
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:        "eidp_hsm_operation_duration_seconds",
		Help:        "Key backend operation latency by operation and algorithm.",
		ConstLabels: prometheus.Labels{"backend": backend},
		Buckets:     []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"op", "algorithm"})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "eidp_hsm_operation_errors_total",
		Help:        "Key backend operations that failed, by operation.",
		ConstLabels: prometheus.Labels{"backend": backend},
	}, []string{"op"})
	reg.MustRegister(latency, failures)
	return func(op string, alg hsm.Algorithm, d time.Duration, err error) {
		latency.WithLabelValues(op, string(alg)).Observe(d.Seconds())
		if err != nil {
			failures.WithLabelValues(op).Inc()
		}
	}
}

// openDatabase connects to the database. It logs nothing: a start that fails
// here prints one line, the error.
func openDatabase(ctx context.Context, cfg *config.Config) (*db.DB, error) {
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, &config.SettingError{Setting: "data_dir", Err: err}
		}
	}
	d, err := db.Open(ctx, cfg.DatabaseURL, db.Options{
		MaxOpenConns:    cfg.DBMaxOpenConns,
		MaxIdleConns:    cfg.DBMaxIdleConns,
		ConnMaxLifetime: cfg.DBConnMaxLifetime,
		ConnMaxIdleTime: cfg.DBConnMaxIdleTime,
		ConnectTimeout:  cfg.DBConnectTimeout,
	})
	if err != nil {
		return nil, &config.SettingError{Setting: "database_url", Err: err}
	}
	return d, nil
}

// migrateDatabase brings the schema up to date, or refuses a schema newer
// than this binary.
func migrateDatabase(ctx context.Context, d *db.DB, log *slog.Logger) error {
	applied, err := d.Migrate(ctx)
	if errors.Is(err, db.ErrSchemaTooNew) {
		return &config.SettingError{Setting: "database_url", Err: err}
	}
	if err != nil {
		return fmt.Errorf("database migration: %w", err)
	}
	for _, m := range applied {
		log.Info("applied database migration", "version", m.Version, "name", m.Name)
	}
	return nil
}

func newLogger(cfg *config.Config, w *os.File) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.JSONLogs() {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openDatabaseAndKeys opens the database and the key backend and applies
// pending migrations: what the commands that work on keys need. close
// releases both.
func openDatabaseAndKeys(ctx context.Context, cfg *config.Config, log *slog.Logger) (d *db.DB, km hsm.KeyManager, close func(), err error) {
	if d, err = openDatabase(ctx, cfg); err != nil {
		return nil, nil, nil, err
	}
	if km, err = openKeys(ctx, cfg, log, nil); err != nil {
		d.Close()
		return nil, nil, nil, err
	}
	close = func() { km.Close(); d.Close() }
	if err := migrateDatabase(ctx, d, log); err != nil {
		close()
		return nil, nil, nil, err
	}
	return d, km, close, nil
}
