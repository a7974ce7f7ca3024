package config

import (
	"net/url"
	"strings"
	"time"
)

// Environment names.
const (
	Development = "development"
	Production  = "production"
)

// Config is every setting of the eidp binary. Field comments are in the
// settings table (settings.go), which is also the help text.
type Config struct {
	Env    string
	Addr   string
	Issuer string

	TLSCertFile       string
	TLSKeyFile        string
	AllowInsecureHTTP bool

	DataDir string

	DatabaseURL       string
	DBMaxOpenConns    int
	DBMaxIdleConns    int
	DBConnMaxLifetime time.Duration
	DBConnMaxIdleTime time.Duration
	DBConnectTimeout  time.Duration

	KeyBackend     string
	AllowSoftKeys  bool
	MasterKey      string
	MasterKeyFile  string
	SoftKeyDir     string
	PKCS11Module   string
	PKCS11Token    string
	PKCS11PIN      string
	PKCS11PINFile  string
	PKCS11Sessions int

	LogLevel  string
	LogFormat string

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownTimeout   time.Duration
	MaxHeaderBytes    int
	MaxBodyBytes      int64
	// MaxDocumentBytes is the largest document signed (CSC signDoc) or
	// verified (/signing/verify).
	MaxDocumentBytes int64
	// CAOrganization, CACountry and CACPSURI go into the signing CA's
	// certificates (signing/ca Config): the server and `eidp ca` read the
	// same settings, so every node issues alike.
	CAOrganization, CACountry, CACPSURI string

	MetricsAddr    string
	TrustedProxies string

	WebAuthnRPID               string
	WebAuthnOrigins            string
	PasskeyAttestation         string
	PasskeyAAGUIDAllow         string
	PasskeyAAGUIDDeny          string
	PasskeyAllowZeroAAGUID     bool
	PasskeyAllowSynced         bool
	PasskeySignCountRegression string
	SessionIdleTimeout         time.Duration
	SessionAbsoluteTimeout     time.Duration
	CivilRegister              string
	AllowDemoRegister          bool
	ProofingMaxFailures        int
	ProofingMaxFailuresPerAddr int
	ProofingWindow             time.Duration
	ProofingLockout            time.Duration
	AccessTokenLifetime        time.Duration
	IDTokenLifetime            time.Duration
	RefreshTokenLifetime       time.Duration
	RequirePAR                 bool
	TokenRateLimit             int
	CeremonyRateLimit          int
	SubjectSecretFile          string
	KeyRefresh                 time.Duration
}

// Defaults returns the settings that run on a laptop: SQLite and soft keys
// under ./data, plain HTTP on localhost:8080.
func Defaults() *Config {
	return &Config{
		Env:               Development,
		Addr:              "localhost:8080",
		Issuer:            "http://localhost:8080",
		DataDir:           "data",
		DatabaseURL:       "sqlite:data/eidp.db",
		DBConnectTimeout:  5 * time.Second,
		KeyBackend:        "soft",
		MasterKeyFile:     "", // derived from data_dir when empty
		SoftKeyDir:        "", // derived from data_dir when empty
		PKCS11Sessions:    8,
		LogLevel:          "info",
		LogFormat:         "auto",
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownTimeout:   30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		MaxBodyBytes:      1 << 20,
		MaxDocumentBytes:  32 << 20,
		CAOrganization:    "eidp",
		CACountry:         "HK",

		PasskeyAttestation:         "none",
		PasskeyAllowZeroAAGUID:     true,
		PasskeyAllowSynced:         true,
		PasskeySignCountRegression: "block",
		SessionIdleTimeout:         30 * time.Minute,
		SessionAbsoluteTimeout:     12 * time.Hour,
		CivilRegister:              "demo",
		ProofingMaxFailures:        5,
		ProofingMaxFailuresPerAddr: 20,
		ProofingWindow:             15 * time.Minute,
		ProofingLockout:            30 * time.Minute,
		AccessTokenLifetime:        10 * time.Minute,
		IDTokenLifetime:            10 * time.Minute,
		RefreshTokenLifetime:       12 * time.Hour,
		TokenRateLimit:             100,
		CeremonyRateLimit:          2,
		KeyRefresh:                 30 * time.Second,
	}
}

// Production reports whether the server runs with production safeguards.
func (c *Config) Production() bool { return c.Env == Production }

// JSONLogs reports whether logs are written as JSON (the default in production).
func (c *Config) JSONLogs() bool {
	switch c.LogFormat {
	case "json":
		return true
	case "text":
		return false
	}
	return c.Production()
}

// MasterKeyPath is where the soft backend keeps its master key.
func (c *Config) MasterKeyPath() string {
	if c.MasterKeyFile != "" {
		return c.MasterKeyFile
	}
	return joinData(c.DataDir, "master.key")
}

// SubjectSecretPath is the file holding the pairwise-subject secret.
func (c *Config) SubjectSecretPath() string {
	if c.SubjectSecretFile != "" {
		return c.SubjectSecretFile
	}
	return joinData(c.DataDir, "subject.key")
}

// SoftKeyPath is the directory of the soft backend's sealed key files.
func (c *Config) SoftKeyPath() string {
	if c.SoftKeyDir != "" {
		return c.SoftKeyDir
	}
	return joinData(c.DataDir, "keys")
}

func joinData(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// RPID is the WebAuthn relying-party ID: webauthn_rp_id, or the issuer's host.
func (c *Config) RPID() string {
	if c.WebAuthnRPID != "" {
		return c.WebAuthnRPID
	}
	if u, err := url.Parse(c.Issuer); err == nil {
		return u.Hostname()
	}
	return ""
}

// Origins are the exact origins passkey ceremonies may come from:
// webauthn_origins (comma-separated), or the issuer's origin.
func (c *Config) Origins() []string {
	if c.WebAuthnOrigins != "" {
		var out []string
		for _, o := range strings.Split(c.WebAuthnOrigins, ",") {
			if o = strings.TrimSpace(o); o != "" {
				out = append(out, strings.TrimRight(o, "/"))
			}
		}
		return out
	}
	if u, err := url.Parse(c.Issuer); err == nil {
		return []string{u.Scheme + "://" + u.Host}
	}
	return nil
}

// AAGUIDs splits a comma-separated AAGUID list setting.
func AAGUIDs(list string) []string {
	var out []string
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
