package oauth

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"eidp/bench/loadgen"
)

// Scenario names, as given to -scenario.
const (
	ScenarioClientCredentials    = "client-credentials"
	ScenarioClientCredentialsJWT = "client-credentials-jwt"
	ScenarioRefresh              = "refresh"
	ScenarioUserinfo             = "userinfo"
	ScenarioIntrospection        = "introspection"
)

// flagValues are bound to the command's flags by init.
var flagValues struct {
	cfg                                Config
	secretFile, tokenFile, refreshFile string
	tokens, refreshTokens              stringList
}

func init() {
	loadgen.RegisterFlags(defineFlags)
	for _, s := range []struct {
		name, summary string
		build         func(Config) (loadgen.Scenario, error)
	}{
		{ScenarioClientCredentials, "client credentials grant, client_secret_basic (RFC 6749 §4.4)", NewClientCredentials},
		{ScenarioClientCredentialsJWT, "client credentials grant, private_key_jwt with a fresh assertion each (RFC 7523)", NewClientCredentialsJWT},
		{ScenarioRefresh, "refresh token grant (RFC 6749 §6), rotated tokens kept per worker", NewRefresh},
		{ScenarioUserinfo, "UserInfo GET with a Bearer access token (OpenID Connect Core §5.3)", NewUserinfo},
		{ScenarioIntrospection, "token introspection with client authentication (RFC 7662)", NewIntrospection},
	} {
		loadgen.Register(s.name, s.summary, func() (loadgen.Scenario, error) {
			cfg, err := FlagConfig()
			if err != nil {
				return nil, err
			}
			return s.build(cfg)
		})
	}
}

func defineFlags(fs *flag.FlagSet) {
	flagValues.tokens, flagValues.refreshTokens = nil, nil // a new command line starts empty
	c := &flagValues.cfg
	fs.StringVar(&c.Issuer, "issuer", "", "issuer URL; endpoints not given are read from its discovery document")
	fs.StringVar(&c.TokenEndpoint, "token-endpoint", "", "token endpoint URL (default: from discovery)")
	fs.StringVar(&c.IntrospectionEndpoint, "introspection-endpoint", "", "introspection endpoint URL (default: from discovery)")
	fs.StringVar(&c.UserinfoEndpoint, "userinfo-endpoint", "", "userinfo endpoint URL (default: from discovery)")
	fs.StringVar(&c.JWKSURI, "jwks-uri", "", "JWKS URL to verify JWT access tokens (default: from discovery)")
	fs.StringVar(&c.ClientID, "client-id", "", "client ID")
	fs.StringVar(&c.ClientSecret, "client-secret", "", "client secret (client_secret_basic); see -client-secret-file")
	fs.StringVar(&flagValues.secretFile, "client-secret-file", "", "file holding the client secret (keeps it out of the process list)")
	fs.StringVar(&c.PrivateKeyFile, "key", "", "PEM private key for private_key_jwt (EC P-256/384/521, RSA ≥ 2048, Ed25519)")
	fs.StringVar(&c.KeyID, "key-id", "", "kid for the client assertion's header")
	fs.StringVar(&c.Scope, "scope", "", "scope for the client credentials grant")
	fs.Var(&flagValues.tokens, "token", "access token for userinfo/introspection (repeatable; worker i uses token i mod n)")
	fs.StringVar(&flagValues.tokenFile, "token-file", "", "file of access tokens, one per line")
	fs.Var(&flagValues.refreshTokens, "refresh-token", "refresh token for refresh (repeatable; one per worker if the server rotates them)")
	fs.StringVar(&flagValues.refreshFile, "refresh-token-file", "", "file of refresh tokens, one per line")
}

// FlagConfig returns the Config the command line gave, files read. Other
// scenario packages use it rather than defining these flags again.
func FlagConfig() (Config, error) {
	cfg := flagValues.cfg
	cfg.AccessTokens = append([]string(nil), flagValues.tokens...)
	cfg.RefreshTokens = append([]string(nil), flagValues.refreshTokens...)
	if flagValues.secretFile != "" {
		if cfg.ClientSecret != "" {
			return cfg, fmt.Errorf("%w: give -client-secret or -client-secret-file, not both", ErrConfig)
		}
		lines, err := readLines(flagValues.secretFile)
		if err != nil || len(lines) != 1 {
			return cfg, fmt.Errorf("%w: -client-secret-file must hold one line: %v", ErrConfig, err)
		}
		cfg.ClientSecret = lines[0]
	}
	for _, f := range []struct {
		path string
		dst  *[]string
	}{{flagValues.tokenFile, &cfg.AccessTokens}, {flagValues.refreshFile, &cfg.RefreshTokens}} {
		if f.path == "" {
			continue
		}
		lines, err := readLines(f.path)
		if err != nil {
			return cfg, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if len(lines) == 0 {
			return cfg, fmt.Errorf("%w: %s holds no tokens", ErrConfig, f.path)
		}
		*f.dst = append(*f.dst, lines...)
	}
	return cfg, nil
}

// readLines returns the non-empty lines of a file that do not start with #.
func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out, sc.Err()
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(len(*l)) + " given" }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
