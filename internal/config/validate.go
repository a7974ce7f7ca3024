package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"eidp/internal/httpx"
)

// rule checks one setting; it returns a message saying what to change, or "".
type rule struct {
	setting string
	check   func(c *Config) string
}

var rules = []rule{
	{"env", func(c *Config) string {
		return oneOf(c.Env, Development, Production)
	}},
	{"addr", func(c *Config) string { return hostPort(c.Addr) }},
	{"issuer", func(c *Config) string {
		u, err := url.Parse(c.Issuer)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return fmt.Sprintf("%q is not an absolute http(s) URL; set it to the public base URL, e.g. https://id.example.gov", c.Issuer)
		}
		// OpenID Connect Discovery §3: the issuer has no query or fragment.
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return "the issuer URL must not have a query, fragment or user info"
		}
		if c.Production() && u.Scheme != "https" && !c.AllowInsecureHTTP {
			return "production needs an https:// issuer; set allow_insecure_http=true only behind a TLS-terminating proxy"
		}
		return ""
	}},
	{"tls_cert_file", func(c *Config) string {
		if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
			return "set both tls_cert_file and tls_key_file, or neither"
		}
		return readable(c.TLSCertFile)
	}},
	{"tls_key_file", func(c *Config) string { return readable(c.TLSKeyFile) }},
	{"database_url", func(c *Config) string {
		switch {
		case strings.HasPrefix(c.DatabaseURL, "sqlite:"):
			if strings.TrimPrefix(c.DatabaseURL, "sqlite:") == "" {
				return "sqlite: needs a file path, e.g. sqlite:data/eidp.db"
			}
			return ""
		case strings.HasPrefix(c.DatabaseURL, "postgres://"), strings.HasPrefix(c.DatabaseURL, "postgresql://"):
			if _, err := url.Parse(c.DatabaseURL); err != nil {
				return "not a valid postgres:// URL"
			}
			return ""
		}
		return "must be sqlite:PATH or postgres://user@host:port/dbname"
	}},
	{"db_max_open_conns", func(c *Config) string { return nonNegative(c.DBMaxOpenConns) }},
	{"db_max_idle_conns", func(c *Config) string { return nonNegative(c.DBMaxIdleConns) }},
	{"db_conn_max_lifetime", func(c *Config) string { return nonNegative(int(c.DBConnMaxLifetime)) }},
	{"db_conn_max_idle_time", func(c *Config) string { return nonNegative(int(c.DBConnMaxIdleTime)) }},
	{"db_connect_timeout", func(c *Config) string { return positive(int(c.DBConnectTimeout)) }},
	{"key_backend", func(c *Config) string {
		if m := oneOf(c.KeyBackend, "pkcs11", "soft"); m != "" {
			return m
		}
		if c.Production() && c.KeyBackend == "soft" && !c.AllowSoftKeys {
			return "production refuses the soft key backend (keys in files, not an HSM); use pkcs11, or set allow_soft_keys=true if you accept that risk"
		}
		return ""
	}},
	{"pkcs11_module", func(c *Config) string {
		if c.KeyBackend != "pkcs11" {
			return ""
		}
		if c.PKCS11Module == "" {
			return "key_backend=pkcs11 needs the path of the PKCS#11 module"
		}
		return readable(c.PKCS11Module)
	}},
	{"pkcs11_token", func(c *Config) string {
		if c.KeyBackend == "pkcs11" && c.PKCS11Token == "" {
			return "key_backend=pkcs11 needs the label of the token"
		}
		return ""
	}},
	{"pkcs11_pin_file", func(c *Config) string {
		if c.KeyBackend != "pkcs11" {
			return ""
		}
		if c.PKCS11PIN == "" && c.PKCS11PINFile == "" {
			return "key_backend=pkcs11 needs a PIN: set pkcs11_pin_file (or EIDP_PKCS11_PIN)"
		}
		if c.PKCS11PIN != "" && c.PKCS11PINFile != "" {
			return "set either EIDP_PKCS11_PIN or pkcs11_pin_file, not both"
		}
		return readable(c.PKCS11PINFile)
	}},
	{"pkcs11_sessions", func(c *Config) string {
		if c.PKCS11Sessions < 1 || c.PKCS11Sessions > 1024 {
			return fmt.Sprintf("%d is out of range; use 1 to 1024", c.PKCS11Sessions)
		}
		return ""
	}},
	{"log_level", func(c *Config) string { return oneOf(c.LogLevel, "debug", "info", "warn", "error") }},
	{"log_format", func(c *Config) string { return oneOf(c.LogFormat, "auto", "json", "text") }},
	{"read_header_timeout", func(c *Config) string { return positive(int(c.ReadHeaderTimeout)) }},
	{"read_timeout", func(c *Config) string { return positive(int(c.ReadTimeout)) }},
	{"write_timeout", func(c *Config) string { return positive(int(c.WriteTimeout)) }},
	{"idle_timeout", func(c *Config) string { return positive(int(c.IdleTimeout)) }},
	{"shutdown_timeout", func(c *Config) string { return positive(int(c.ShutdownTimeout)) }},
	{"max_header_bytes", func(c *Config) string {
		if c.MaxHeaderBytes < 1024 {
			return "must be at least 1024"
		}
		return ""
	}},
	{"max_body_bytes", func(c *Config) string {
		if c.MaxBodyBytes < 1024 {
			return "must be at least 1024"
		}
		return ""
	}},
	{"max_document_bytes", func(c *Config) string {
		if c.MaxDocumentBytes < 1024 || c.MaxDocumentBytes > 1<<30 {
			return "must be between 1024 and 1073741824"
		}
		return ""
	}},
	{"trusted_proxies", func(c *Config) string {
		if _, err := httpx.ParseTrustedProxies(c.TrustedProxies); err != nil {
			return err.Error()
		}
		return ""
	}},
	{"webauthn_rp_id", func(c *Config) string {
		rp := c.RPID()
		if rp == "" {
			return "cannot derive a relying-party ID from the issuer; set webauthn_rp_id"
		}
		if net.ParseIP(strings.Trim(rp, "[]")) != nil {
			return fmt.Sprintf("%q is an IP address; WebAuthn needs a domain name (use localhost for development)", rp)
		}
		return ""
	}},
	{"webauthn_origins", func(c *Config) string {
		rp := c.RPID()
		for _, o := range c.Origins() {
			u, err := url.Parse(o)
			if err != nil || u.Host == "" || u.Path != "" || (u.Scheme != "https" && !(u.Scheme == "http" && u.Hostname() == "localhost")) {
				return fmt.Sprintf("%q is not an origin (https://host[:port]; http only for localhost)", o)
			}
			// WebAuthn §5.1.3: the RP ID must be the origin's host or a registrable suffix of it.
			if h := u.Hostname(); h != rp && !strings.HasSuffix(h, "."+rp) {
				return fmt.Sprintf("origin %q is not within the relying-party ID %q", o, rp)
			}
		}
		return ""
	}},
	{"passkey_attestation", func(c *Config) string { return oneOf(c.PasskeyAttestation, "none", "indirect", "direct") }},
	{"passkey_sign_count_regression", func(c *Config) string { return oneOf(c.PasskeySignCountRegression, "block", "flag") }},
	{"session_idle_timeout", func(c *Config) string { return positive(int(c.SessionIdleTimeout)) }},
	{"session_absolute_timeout", func(c *Config) string {
		if c.SessionAbsoluteTimeout < c.SessionIdleTimeout {
			return "must be at least session_idle_timeout"
		}
		return ""
	}},
	{"access_token_lifetime", func(c *Config) string { return tokenLifetime(c.AccessTokenLifetime) }},
	{"id_token_lifetime", func(c *Config) string { return tokenLifetime(c.IDTokenLifetime) }},
	{"refresh_token_lifetime", func(c *Config) string {
		if c.RefreshTokenLifetime < time.Minute {
			return "must be at least 1m"
		}
		return ""
	}},
	{"key_refresh", func(c *Config) string {
		if c.KeyRefresh < 100*time.Millisecond || c.KeyRefresh > 10*time.Minute {
			return "must be between 100ms and 10m"
		}
		return ""
	}},
	{"token_rate_limit", func(c *Config) string {
		if c.TokenRateLimit < 0 {
			return "must be 0 (off) or a positive number of requests per second"
		}
		return ""
	}},
	{"ceremony_rate_limit", func(c *Config) string {
		if c.CeremonyRateLimit < 0 {
			return "must be 0 (off) or a positive number of requests per second"
		}
		return ""
	}},
	{"civil_register", func(c *Config) string {
		if m := oneOf(c.CivilRegister, "demo"); m != "" {
			return m + " (only the demo register exists so far)"
		}
		if c.Production() && c.CivilRegister == "demo" && !c.AllowDemoRegister {
			return "production refuses the demo register of synthetic people; connect the real civil register, or set allow_demo_register=true for a staging system"
		}
		return ""
	}},
	{"proofing_max_failures", func(c *Config) string { return positive(c.ProofingMaxFailures) }},
	{"proofing_max_failures_per_address", func(c *Config) string { return positive(c.ProofingMaxFailuresPerAddr) }},
	{"proofing_window", func(c *Config) string { return positive(int(c.ProofingWindow)) }},
	{"proofing_lockout", func(c *Config) string { return positive(int(c.ProofingLockout)) }},
	{"metrics_addr", func(c *Config) string {
		if c.MetricsAddr == "" {
			return ""
		}
		if m := hostPort(c.MetricsAddr); m != "" {
			return m
		}
		if c.MetricsAddr == c.Addr {
			return "must differ from addr (leave it empty to serve /metrics on the main listener)"
		}
		return ""
	}},
}

// Validate checks every setting and every combination. It returns the first
// problem as a *SettingError naming the setting.
func (c *Config) Validate() error {
	for _, r := range rules {
		if msg := r.check(c); msg != "" {
			return &SettingError{Setting: r.setting, Msg: msg}
		}
	}
	return nil
}

func oneOf(v string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return ""
		}
	}
	return fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", "))
}

func hostPort(v string) string {
	if _, _, err := net.SplitHostPort(v); err != nil {
		return fmt.Sprintf("%q is not host:port (e.g. localhost:8080 or :8080)", v)
	}
	return ""
}

func nonNegative(n int) string {
	if n < 0 {
		return "must not be negative"
	}
	return ""
}

func positive(n int) string {
	if n <= 0 {
		return "must be greater than zero"
	}
	return ""
}

// readable checks that a configured file can be opened for reading.
func readable(path string) string {
	if path == "" {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fmt.Sprintf("cannot read %s: %v", path, pe.Err)
		}
		return fmt.Sprintf("cannot read %s: %v", path, err)
	}
	defer f.Close()
	// Opening a directory succeeds; reading it does not.
	if _, err := f.Read(make([]byte, 1)); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Sprintf("cannot read %s: %v", path, errors.Unwrap(err))
	}
	return ""
}

// tokenLifetime checks a signed token's lifetime: positive, and short
// enough that the key that signed it is still published when it expires
// (keyring.DefaultRetainAfter, 24 h).
func tokenLifetime(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return "must be at least 10s"
	case d > 24*time.Hour:
		return "must be at most 24h: a replaced signing key stays published for 24h, and a token must not outlive the key that verifies it"
	}
	return ""
}
