package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A setting is one configurable value: its file key, its help text and where
// it is stored. The environment variable and the flag are derived from the key
// (database_url → EIDP_DATABASE_URL, --database-url).
type setting struct {
	Key  string
	Help string
	// Secret settings come only from the environment or the file: a flag
	// would show the value to every user of `ps`. They are never printed.
	Secret bool
	bind   func(*Config) value
}

// Env is the environment variable that sets s.
func (s setting) Env() string { return "EIDP_" + strings.ToUpper(s.Key) }

// Flag is the command-line flag that sets s (without the dashes).
func (s setting) Flag() string { return strings.ReplaceAll(s.Key, "_", "-") }

func (s setting) names() string {
	if s.Secret {
		return fmt.Sprintf("%s (%s)", s.Key, s.Env())
	}
	return fmt.Sprintf("%s (%s, --%s)", s.Key, s.Env(), s.Flag())
}

// value parses and prints one setting's value.
type value interface {
	Set(string) error
	String() string
}

type stringValue struct{ p *string }

func (v stringValue) Set(s string) error { *v.p = s; return nil }
func (v stringValue) String() string     { return *v.p }

type intValue struct{ p *int }

func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*v.p = n
	return nil
}
func (v intValue) String() string { return strconv.Itoa(*v.p) }

type int64Value struct{ p *int64 }

func (v int64Value) Set(s string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*v.p = n
	return nil
}
func (v int64Value) String() string { return strconv.FormatInt(*v.p, 10) }

type boolValue struct{ p *bool }

func (v boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not true or false", s)
	}
	*v.p = b
	return nil
}
func (v boolValue) String() string { return strconv.FormatBool(*v.p) }

// IsBoolFlag lets `--flag` stand for `--flag=true`.
func (v boolValue) IsBoolFlag() bool { return true }

type durationValue struct{ p *time.Duration }

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a duration (examples: 500ms, 30s, 5m)", s)
	}
	*v.p = d
	return nil
}
func (v durationValue) String() string { return v.p.String() }

// settings is the table of every setting. Keep it in the order of the help text.
var settings = []setting{
	{Key: "env", Help: "deployment environment: development or production (production refuses dev-only backends and plain HTTP unless overridden)",
		bind: func(c *Config) value { return stringValue{&c.Env} }},
	{Key: "addr", Help: "address to listen on, host:port",
		bind: func(c *Config) value { return stringValue{&c.Addr} }},
	{Key: "issuer", Help: "public base URL of this server as residents and relying parties reach it (https in production)",
		bind: func(c *Config) value { return stringValue{&c.Issuer} }},
	{Key: "tls_cert_file", Help: "PEM certificate chain to serve HTTPS directly (empty: plain HTTP, e.g. behind a TLS-terminating proxy)",
		bind: func(c *Config) value { return stringValue{&c.TLSCertFile} }},
	{Key: "tls_key_file", Help: "PEM private key for tls_cert_file",
		bind: func(c *Config) value { return stringValue{&c.TLSKeyFile} }},
	{Key: "allow_insecure_http", Help: "in production, accept an http:// issuer (only for a trusted TLS-terminating proxy setup you have checked)",
		bind: func(c *Config) value { return boolValue{&c.AllowInsecureHTTP} }},
	{Key: "data_dir", Help: "directory for the embedded database, the soft key store and its master key",
		bind: func(c *Config) value { return stringValue{&c.DataDir} }},
	{Key: "database_url", Help: "database: sqlite:PATH (embedded) or postgres://user@host/db?sslmode=... (production)",
		bind: func(c *Config) value { return stringValue{&c.DatabaseURL} }},
	{Key: "db_max_open_conns", Help: "maximum open database connections (0: engine default)",
		bind: func(c *Config) value { return intValue{&c.DBMaxOpenConns} }},
	{Key: "db_max_idle_conns", Help: "maximum idle database connections (0: engine default)",
		bind: func(c *Config) value { return intValue{&c.DBMaxIdleConns} }},
	{Key: "db_conn_max_lifetime", Help: "close database connections older than this (0: never)",
		bind: func(c *Config) value { return durationValue{&c.DBConnMaxLifetime} }},
	{Key: "db_conn_max_idle_time", Help: "close database connections idle longer than this (0: never)",
		bind: func(c *Config) value { return durationValue{&c.DBConnMaxIdleTime} }},
	{Key: "db_connect_timeout", Help: "how long to wait for the database at start before giving up",
		bind: func(c *Config) value { return durationValue{&c.DBConnectTimeout} }},
	{Key: "key_backend", Help: "where keys live: pkcs11 (an HSM, production) or soft (sealed files, development only)",
		bind: func(c *Config) value { return stringValue{&c.KeyBackend} }},
	{Key: "allow_soft_keys", Help: "in production, accept the soft key backend anyway (keys then live in files, not in an HSM)",
		bind: func(c *Config) value { return boolValue{&c.AllowSoftKeys} }},
	{Key: "master_key", Secret: true, Help: "soft backend: master key sealing the key files, 32 bytes as base64 or hex (default: read or create master_key_file)",
		bind: func(c *Config) value { return stringValue{&c.MasterKey} }},
	{Key: "master_key_file", Help: "soft backend: master key file, created with mode 0600 on first start (default: DATA_DIR/master.key)",
		bind: func(c *Config) value { return stringValue{&c.MasterKeyFile} }},
	{Key: "soft_key_dir", Help: "soft backend: directory of sealed key files (default: DATA_DIR/keys)",
		bind: func(c *Config) value { return stringValue{&c.SoftKeyDir} }},
	{Key: "pkcs11_module", Help: "pkcs11 backend: path of the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so)",
		bind: func(c *Config) value { return stringValue{&c.PKCS11Module} }},
	{Key: "pkcs11_token", Help: "pkcs11 backend: label of the token holding eidp's keys",
		bind: func(c *Config) value { return stringValue{&c.PKCS11Token} }},
	{Key: "pkcs11_pin", Secret: true, Help: "pkcs11 backend: user PIN (prefer pkcs11_pin_file)",
		bind: func(c *Config) value { return stringValue{&c.PKCS11PIN} }},
	{Key: "pkcs11_pin_file", Help: "pkcs11 backend: file holding the user PIN",
		bind: func(c *Config) value { return stringValue{&c.PKCS11PINFile} }},
	{Key: "pkcs11_sessions", Help: "pkcs11 backend: size of the session pool",
		bind: func(c *Config) value { return intValue{&c.PKCS11Sessions} }},
	{Key: "log_level", Help: "log level: debug, info, warn or error",
		bind: func(c *Config) value { return stringValue{&c.LogLevel} }},
	{Key: "log_format", Help: "log format: auto (json in production, text otherwise), json or text",
		bind: func(c *Config) value { return stringValue{&c.LogFormat} }},
	{Key: "read_header_timeout", Help: "HTTP: time allowed to read request headers",
		bind: func(c *Config) value { return durationValue{&c.ReadHeaderTimeout} }},
	{Key: "read_timeout", Help: "HTTP: time allowed to read a whole request",
		bind: func(c *Config) value { return durationValue{&c.ReadTimeout} }},
	{Key: "write_timeout", Help: "HTTP: time allowed to write a response",
		bind: func(c *Config) value { return durationValue{&c.WriteTimeout} }},
	{Key: "idle_timeout", Help: "HTTP: how long an idle keep-alive connection stays open",
		bind: func(c *Config) value { return durationValue{&c.IdleTimeout} }},
	{Key: "shutdown_timeout", Help: "on SIGTERM/SIGINT, how long in-flight requests may take to finish",
		bind: func(c *Config) value { return durationValue{&c.ShutdownTimeout} }},
	{Key: "max_header_bytes", Help: "HTTP: largest accepted request header block, in bytes",
		bind: func(c *Config) value { return intValue{&c.MaxHeaderBytes} }},
	{Key: "max_body_bytes", Help: "HTTP: largest accepted request body, in bytes (endpoints may set lower limits)",
		bind: func(c *Config) value { return int64Value{&c.MaxBodyBytes} }},
	{Key: "max_document_bytes", Help: "signing: largest document accepted by CSC signDoc and /signing/verify, in bytes (their request bodies may be larger than max_body_bytes by this much, base64 included)",
		bind: func(c *Config) value { return int64Value{&c.MaxDocumentBytes} }},
	{Key: "ca_organization", Help: "signing CA: organizationName of the CA certificates",
		bind: func(c *Config) value { return stringValue{&c.CAOrganization} }},
	{Key: "ca_country", Help: "signing CA: countryName (ISO 3166-1 alpha-2) of the CA and residents' certificates",
		bind: func(c *Config) value { return stringValue{&c.CACountry} }},
	{Key: "ca_cps_uri", Help: "signing CA: URL of the certification practice statement, added to the certificate policy (optional)",
		bind: func(c *Config) value { return stringValue{&c.CACPSURI} }},
	{Key: "trusted_proxies", Help: "comma-separated IPs/CIDRs of our own reverse proxies; only from them is X-Forwarded-For believed (rate limits and proofing lockouts key on the client address)",
		bind: func(c *Config) value { return stringValue{&c.TrustedProxies} }},
	{Key: "webauthn_rp_id", Help: "passkeys: the WebAuthn relying-party ID, a registrable domain (default: the issuer's host); changing it orphans every passkey",
		bind: func(c *Config) value { return stringValue{&c.WebAuthnRPID} }},
	{Key: "webauthn_origins", Help: "passkeys: comma-separated exact origins ceremonies may come from (default: the issuer's origin)",
		bind: func(c *Config) value { return stringValue{&c.WebAuthnOrigins} }},
	{Key: "passkey_attestation", Help: "passkeys: attestation conveyance requested at registration: none, indirect or direct",
		bind: func(c *Config) value { return stringValue{&c.PasskeyAttestation} }},
	{Key: "passkey_aaguid_allow", Help: "passkeys: comma-separated AAGUIDs; if set, only these authenticator models may register",
		bind: func(c *Config) value { return stringValue{&c.PasskeyAAGUIDAllow} }},
	{Key: "passkey_aaguid_deny", Help: "passkeys: comma-separated AAGUIDs that may not register",
		bind: func(c *Config) value { return stringValue{&c.PasskeyAAGUIDDeny} }},
	{Key: "passkey_allow_zero_aaguid", Help: "passkeys: accept authenticators that report the all-zero AAGUID (many phones do)",
		bind: func(c *Config) value { return boolValue{&c.PasskeyAllowZeroAAGUID} }},
	{Key: "passkey_allow_synced", Help: "passkeys: accept backup-eligible (synced) passkeys",
		bind: func(c *Config) value { return boolValue{&c.PasskeyAllowSynced} }},
	{Key: "passkey_sign_count_regression", Help: "passkeys: on a signature counter that went backwards (a possibly cloned authenticator): block (the credential) or flag",
		bind: func(c *Config) value { return stringValue{&c.PasskeySignCountRegression} }},
	{Key: "session_idle_timeout", Help: "sessions: log out after this long without activity",
		bind: func(c *Config) value { return durationValue{&c.SessionIdleTimeout} }},
	{Key: "session_absolute_timeout", Help: "sessions: log out this long after login, however active",
		bind: func(c *Config) value { return durationValue{&c.SessionAbsoluteTimeout} }},
	{Key: "civil_register", Help: "identity proofing: the civil register to check residents against (demo: the built-in synthetic register, development only)",
		bind: func(c *Config) value { return stringValue{&c.CivilRegister} }},
	{Key: "allow_demo_register", Help: "in production, accept the demo civil register anyway (a staging system with synthetic people)",
		bind: func(c *Config) value { return boolValue{&c.AllowDemoRegister} }},
	{Key: "proofing_max_failures", Help: "identity proofing: failed attempts per identity within proofing_window before a lockout",
		bind: func(c *Config) value { return intValue{&c.ProofingMaxFailures} }},
	{Key: "proofing_max_failures_per_address", Help: "identity proofing: failed attempts per client address within proofing_window before a lockout",
		bind: func(c *Config) value { return intValue{&c.ProofingMaxFailuresPerAddr} }},
	{Key: "proofing_window", Help: "identity proofing: the window in which failures are counted",
		bind: func(c *Config) value { return durationValue{&c.ProofingWindow} }},
	{Key: "proofing_lockout", Help: "identity proofing: how long a lockout lasts",
		bind: func(c *Config) value { return durationValue{&c.ProofingLockout} }},
	{Key: "access_token_lifetime", Help: "OpenID Provider: lifetime of access tokens (at most 24h, the time a replaced signing key stays published)",
		bind: func(c *Config) value { return durationValue{&c.AccessTokenLifetime} }},
	{Key: "id_token_lifetime", Help: "OpenID Provider: lifetime of ID tokens (at most 24h)",
		bind: func(c *Config) value { return durationValue{&c.IDTokenLifetime} }},
	{Key: "refresh_token_lifetime", Help: "OpenID Provider: lifetime of refresh tokens and of the grant behind them (they also end with the login session or the consent)",
		bind: func(c *Config) value { return durationValue{&c.RefreshTokenLifetime} }},
	{Key: "require_par", Help: "OpenID Provider: accept only pushed authorization requests (RFC 9126) from every client",
		bind: func(c *Config) value { return boolValue{&c.RequirePAR} }},
	{Key: "token_rate_limit", Help: "OpenID Provider: token requests per second per client address (burst twice that); 0 turns the limit off",
		bind: func(c *Config) value { return intValue{&c.TokenRateLimit} }},
	{Key: "ceremony_rate_limit", Help: "passkeys: login and registration API calls per second per client address (burst 15 times that); 0 turns the limit off (a load test from one address)",
		bind: func(c *Config) value { return intValue{&c.CeremonyRateLimit} }},
	{Key: "subject_secret_file", Help: "OpenID Provider: file with the secret (32+ random bytes) pairwise subjects are derived from; the same on every node and never changed, or every relying party sees new subjects (default: DATA_DIR/subject.key, created on first start in development only)",
		bind: func(c *Config) value { return stringValue{&c.SubjectSecretFile} }},
	{Key: "key_refresh", Help: "how often each node re-reads the signing keys and makes due rotations take effect (keep it well below a rotation's publish-ahead time, 1h by default)",
		bind: func(c *Config) value { return durationValue{&c.KeyRefresh} }},
	{Key: "metrics_addr", Help: "serve /metrics on this separate host:port instead of the main listener (empty: main listener)",
		bind: func(c *Config) value { return stringValue{&c.MetricsAddr} }},
}

func lookupSetting(key string) (setting, bool) {
	for _, s := range settings {
		if s.Key == key {
			return s, true
		}
	}
	return setting{}, false
}
