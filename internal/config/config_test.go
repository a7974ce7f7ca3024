package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args []string, environ []string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := NewLoader()
	l.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return l.Load(environ)
}

func TestDefaultsRunOnALaptop(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "localhost:8080" || c.DatabaseURL != "sqlite:data/eidp.db" || c.KeyBackend != "soft" || c.Production() {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if c.MasterKeyPath() != "data/master.key" || c.SoftKeyPath() != "data/keys" {
		t.Fatalf("derived paths: %s %s", c.MasterKeyPath(), c.SoftKeyPath())
	}
}

func TestPrecedenceIsFileThenEnvironmentThenFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "eidp.toml")
	os.WriteFile(file, []byte("addr = \"localhost:1111\"\nlog_level = \"debug\"\ndb_max_open_conns = 7\nshutdown_timeout = \"3s\"\n"), 0o600)
	c, err := load(t, []string{"--config", file, "--addr", "localhost:3333"},
		[]string{"EIDP_ADDR=localhost:2222", "EIDP_LOG_LEVEL=warn", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "localhost:3333" {
		t.Errorf("flag should win: addr=%s", c.Addr)
	}
	if c.LogLevel != "warn" {
		t.Errorf("environment should beat file: log_level=%s", c.LogLevel)
	}
	if c.DBMaxOpenConns != 7 || c.ShutdownTimeout != 3*time.Second {
		t.Errorf("file values not applied: %d %s", c.DBMaxOpenConns, c.ShutdownTimeout)
	}
}

func TestConfigFileFromEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "eidp.toml")
	os.WriteFile(file, []byte("addr = \"localhost:4444\"\n"), 0o600)
	c, err := load(t, nil, []string{"EIDP_CONFIG=" + file})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "localhost:4444" {
		t.Fatalf("addr=%s", c.Addr)
	}
}

func TestBadConfigNamesTheSetting(t *testing.T) {
	dir := t.TempDir()
	unknownKeyFile := filepath.Join(dir, "unknown.toml")
	os.WriteFile(unknownKeyFile, []byte("databse_url = \"sqlite:x.db\"\n"), 0o600)
	pinDir := filepath.Join(dir, "pin-is-a-directory")
	os.Mkdir(pinDir, 0o700)
	module := filepath.Join(dir, "module.so")
	os.WriteFile(module, []byte("x"), 0o600)

	cases := []struct {
		name    string
		args    []string
		env     []string
		want    []string // substrings of the one-line message
		setting string
	}{
		{"an unknown key in the file is rejected with a suggestion", []string{"--config", unknownKeyFile}, nil,
			[]string{"unknown setting \"databse_url\"", "did you mean database_url"}, ""},
		{"an unknown EIDP_ variable is rejected", nil, []string{"EIDP_LISTEN=:80"},
			[]string{"unknown environment variable EIDP_LISTEN"}, ""},
		{"a database URL of another scheme is rejected", nil, []string{"EIDP_DATABASE_URL=mysql://x"},
			[]string{"database_url (EIDP_DATABASE_URL, --database-url)", "sqlite:PATH or postgres://"}, "database_url"},
		{"an issuer that is not a URL is rejected", []string{"--issuer", "localhost"}, nil,
			[]string{"issuer", "absolute http(s) URL"}, "issuer"},
		{"production refuses plain HTTP", []string{"--env", "production", "--key-backend", "pkcs11"}, nil,
			[]string{"issuer", "https://"}, "issuer"},
		{"production refuses soft keys", []string{"--env", "production", "--issuer", "https://id.example"}, nil,
			[]string{"key_backend", "refuses the soft key backend"}, "key_backend"},
		{"pkcs11 without a PIN is rejected", []string{"--key-backend", "pkcs11", "--pkcs11-module", module, "--pkcs11-token", "t"}, nil,
			[]string{"pkcs11_pin_file", "needs a PIN"}, "pkcs11_pin_file"},
		{"an unreadable PIN file is rejected", []string{"--key-backend", "pkcs11", "--pkcs11-module", module, "--pkcs11-token", "t", "--pkcs11-pin-file", pinDir}, nil,
			[]string{"pkcs11_pin_file", "cannot read"}, "pkcs11_pin_file"},
		{"a missing PKCS#11 module is rejected", []string{"--key-backend", "pkcs11", "--pkcs11-module", filepath.Join(dir, "nope.so"), "--pkcs11-token", "t"}, []string{"EIDP_PKCS11_PIN=1234"},
			[]string{"pkcs11_module", "no such file"}, "pkcs11_module"},
		{"a bad duration in the environment is rejected", nil, []string{"EIDP_READ_TIMEOUT=soon"},
			[]string{"read_timeout", "not a duration"}, "read_timeout"},
		{"production refuses the demo civil register", []string{"--env", "production", "--allow-insecure-http", "--allow-soft-keys"}, nil,
			[]string{"civil_register", "synthetic people"}, "civil_register"},
		{"a passkey origin outside the relying-party ID is rejected", []string{"--webauthn-rp-id", "id.example.gov", "--webauthn-origins", "https://evil.example"}, nil,
			[]string{"webauthn_origins", "not within the relying-party ID"}, "webauthn_origins"},
		{"an IP address as relying-party ID is rejected", []string{"--issuer", "http://127.0.0.1:8080"}, nil,
			[]string{"webauthn_rp_id", "IP address"}, "webauthn_rp_id"},
		{"a proxy given by name is rejected", []string{"--trusted-proxies", "10.0.0.0/8,lb.example"}, nil,
			[]string{"trusted_proxies", "neither an IP address nor a CIDR prefix"}, "trusted_proxies"},
		{"only one of the TLS files is rejected", []string{"--tls-cert-file", module}, nil,
			[]string{"tls_cert_file", "both"}, "tls_cert_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.args, tc.env)
			if err == nil {
				t.Fatal("expected an error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("message is not one line: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			var se *SettingError
			if !errors.As(err, &se) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("want *SettingError wrapping ErrInvalid, got %T", err)
			}
			if se.Setting != tc.setting {
				t.Errorf("setting = %q, want %q", se.Setting, tc.setting)
			}
		})
	}
}

func TestProductionOverridesAreExplicit(t *testing.T) {
	c, err := load(t, []string{"--env", "production", "--allow-insecure-http", "--allow-soft-keys", "--allow-demo-register"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.JSONLogs() {
		t.Error("production should log JSON by default")
	}
}

func TestSecretsHaveNoFlag(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	NewLoader().RegisterFlags(fs)
	for _, name := range []string{"master-key", "pkcs11-pin"} {
		if fs.Lookup(name) != nil {
			t.Errorf("secret %s must not be a flag", name)
		}
	}
	var b strings.Builder
	Usage(&b)
	for _, s := range settings {
		if !strings.Contains(b.String(), s.Env()) {
			t.Errorf("usage does not document %s", s.Env())
		}
	}
}
