package oauth

import (
	"context"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"eidp/bench/loadgen"
)

// run runs a scenario briefly and returns the result.
func run(t *testing.T, s loadgen.Scenario, workers int) loadgen.Result {
	t.Helper()
	res, err := loadgen.Run(context.Background(), s, loadgen.Options{Workers: workers, MaxIterations: 20})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

// expect checks that a run passed (kind "") or that every iteration failed
// with kind and nothing else.
func expect(t *testing.T, res loadgen.Result, kind string) {
	t.Helper()
	if kind == "" {
		if len(res.Errors) != 0 || res.Iterations != 20 {
			t.Fatalf("want a clean run: %d iterations, errors %v %v", res.Iterations, res.Errors, res.FirstErrors)
		}
		return
	}
	if len(res.Errors) != 1 || res.Errors[kind] != 20 || res.Iterations != 0 {
		t.Fatalf("want 20 failures of kind %s: %d iterations, errors %v %v", kind, res.Iterations, res.Errors, res.FirstErrors)
	}
}

func (s *oauthServer) config() Config {
	return Config{Issuer: s.URL, ClientID: s.clientID, ClientSecret: s.secret}
}

func TestClientCredentialsChecksEveryTokenResponse(t *testing.T) {
	srv := newOAuthServer(t)
	keyFile := srv.writeKey(t, "ec")
	for _, c := range []struct {
		mode, kind string
	}{
		{"", ""},
		{"opaque", ""},
		{"status", KindStatus},
		{"not-json", KindBody},
		{"no-access-token", KindTokenFormat},
		{"token-type", KindTokenFormat},
		{"no-expires-in", KindTokenFormat},
		{"unknown-key", KindSignature},
		{"wrong-key-same-kid", KindSignature},
		{"expired", KindClaims},
		{"other-client", KindClaims},
	} {
		for _, variant := range []string{"client-credentials", "client-credentials-jwt"} {
			name := variant + "/" + c.mode
			if c.mode == "" {
				name = variant + "/a good server"
			}
			t.Run(name, func(t *testing.T) {
				srv.setMode("token", c.mode)
				cfg := srv.config()
				build := NewClientCredentials
				if variant == "client-credentials-jwt" {
					cfg.PrivateKeyFile, cfg.KeyID = keyFile, "client-key-1"
					build = NewClientCredentialsJWT
				}
				s, err := build(cfg)
				if err != nil {
					t.Fatal(err)
				}
				res := run(t, s, 3)
				expect(t, res, c.kind)
				if res.Scenario != variant {
					t.Fatalf("scenario %q", res.Scenario)
				}
				if c.kind == "" {
					note := strings.Join(res.Notes, "\n")
					want := "20 JWT access tokens"
					if c.mode == "opaque" {
						want = "20 opaque access tokens"
					}
					if !strings.Contains(note, want) {
						t.Fatalf("notes %q lack %q", note, want)
					}
				}
			})
		}
	}
}

func TestTheFirstDetailNamesTheProblemWithoutTheToken(t *testing.T) {
	srv := newOAuthServer(t)
	srv.setMode("token", "status")
	s, _ := NewClientCredentials(srv.config())
	res := run(t, s, 1)
	if d := res.FirstErrors[KindStatus]; !strings.Contains(d, "500") || !strings.Contains(d, "server_error") {
		t.Fatalf("detail %q", d)
	}
	srv.setMode("token", "unknown-key")
	s, _ = NewClientCredentials(srv.config())
	res = run(t, s, 1)
	if d := res.FirstErrors[KindSignature]; !strings.Contains(d, `"k9"`) || strings.Contains(d, "eyJ") {
		t.Fatalf("detail %q", d)
	}
}

func TestAnUnknownKidMakesOneJWKSRefetchPerSecond(t *testing.T) {
	srv := newOAuthServer(t)
	srv.setMode("token", "unknown-key")
	s, _ := NewClientCredentials(srv.config())
	run(t, s, 4)
	// One fetch in Setup, then at most one more for the whole (sub-second)
	// run: the twenty unknown kids do not make twenty requests.
	if n := srv.served("jwks"); n < 2 || n > 3 {
		t.Fatalf("the JWKS was fetched %d times", n)
	}
}

func TestPrivateKeyJWTUsesAFreshAssertionEachTime(t *testing.T) {
	srv := newOAuthServer(t)
	for _, kind := range []string{"ec", "rsa"} {
		t.Run(kind, func(t *testing.T) {
			cfg := srv.config()
			cfg.PrivateKeyFile = srv.writeKey(t, kind)
			s, err := NewClientCredentialsJWT(cfg)
			if err != nil {
				t.Fatal(err)
			}
			// The server refuses a replayed jti with 401: a clean run means
			// every assertion was new.
			expect(t, run(t, s, 4), "")
		})
	}
	// A key the server does not know is refused, as a status failure.
	cfg := srv.config()
	cfg.PrivateKeyFile = srv.writeKey(t, "ec")
	srv.writeKey(t, "ec") // the server now has another key
	s, _ := NewClientCredentialsJWT(cfg)
	expect(t, run(t, s, 2), KindStatus)
}

func TestRefreshKeepsRotatedTokensPerWorker(t *testing.T) {
	srv := newOAuthServer(t)
	srv.mu.Lock()
	srv.rotate = true
	srv.mu.Unlock()
	tokens := []string{srv.newRefreshToken(), srv.newRefreshToken(), srv.newRefreshToken()}
	cfg := srv.config()
	cfg.RefreshTokens = tokens
	s, err := NewRefresh(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A stale token gets invalid_grant: a clean run with rotation means each
	// worker used the token it was last given.
	expect(t, run(t, s, 3), "")

	// Three tokens cannot serve four workers.
	s, _ = NewRefresh(cfg)
	if _, err := loadgen.Run(context.Background(), s, loadgen.Options{Workers: 4, MaxIterations: 1}); !errors.Is(err, ErrConfig) {
		t.Fatalf("3 tokens, 4 workers: %v", err)
	}
	// One token shared by two workers is refused once the server rotates it.
	cfg.RefreshTokens = []string{srv.newRefreshToken()}
	s, _ = NewRefresh(cfg)
	if _, err := loadgen.Run(context.Background(), s, loadgen.Options{Workers: 2, MaxIterations: 1}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "rotates") {
		t.Fatalf("1 rotating token, 2 workers: %v", err)
	}
	// A spent token fails loudly.
	cfg.RefreshTokens = []string{"never-issued"}
	s, _ = NewRefresh(cfg)
	expect(t, run(t, s, 1), KindStatus)
}

func TestRefreshSharesATokenThatDoesNotRotate(t *testing.T) {
	srv := newOAuthServer(t)
	cfg := srv.config()
	cfg.RefreshTokens = []string{srv.newRefreshToken()}
	s, err := NewRefresh(cfg)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, run(t, s, 4), "")
	srv.setMode("token", "expired")
	s, _ = NewRefresh(cfg)
	if _, err := loadgen.Run(context.Background(), s, loadgen.Options{Workers: 2, MaxIterations: 1}); err == nil || !strings.Contains(err.Error(), "first refresh failed") {
		t.Fatalf("a bad first refresh: %v", err)
	}
}

func TestUserinfoChecksStatusBodyAndSub(t *testing.T) {
	srv := newOAuthServer(t)
	for _, c := range []struct{ mode, kind string }{
		{"", ""},
		{"signed", ""},
		{"status", KindStatus},
		{"not-json", KindBody},
		{"no-sub", KindClaims},
		{"signed-unknown-key", KindSignature},
	} {
		t.Run("mode "+c.mode, func(t *testing.T) {
			srv.setMode("userinfo", c.mode)
			cfg := srv.config()
			cfg.AccessTokens = []string{srv.residentToken("resident-1"), srv.residentToken("resident-2")}
			s, err := NewUserinfo(cfg)
			if err != nil {
				t.Fatal(err)
			}
			expect(t, run(t, s, 2), c.kind)
		})
	}
	t.Run("a client token the server refuses sends the user to -token", func(t *testing.T) {
		srv.setMode("userinfo", "")
		s, _ := NewUserinfo(srv.config())
		_, err := loadgen.Run(context.Background(), s, loadgen.Options{Workers: 1, MaxIterations: 1})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "-token") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a client token the server accepts", func(t *testing.T) {
		srv.setMode("userinfo", "allow-client-tokens")
		s, _ := NewUserinfo(srv.config())
		expect(t, run(t, s, 2), "")
	})
	t.Run("an expired resident token", func(t *testing.T) {
		srv.setMode("userinfo", "")
		cfg := srv.config()
		cfg.AccessTokens = []string{srv.accessToken(srv.key, "k1", srv.clientID, "resident-1", timeAgo())}
		s, _ := NewUserinfo(cfg)
		expect(t, run(t, s, 1), KindStatus)
	})
}

func TestIntrospectionWantsActive(t *testing.T) {
	srv := newOAuthServer(t)
	keyFile := srv.writeKey(t, "ec")
	for _, c := range []struct{ mode, kind string }{
		{"", ""},
		{"status", KindStatus},
		{"not-json", KindBody},
		{"inactive", KindInactive},
		{"no-active", KindInactive},
		{"past-exp", KindClaims},
	} {
		for _, auth := range []string{"basic", "jwt"} {
			t.Run(auth+"/mode "+c.mode, func(t *testing.T) {
				srv.setMode("introspect", c.mode)
				cfg := srv.config()
				if auth == "jwt" {
					cfg.ClientSecret, cfg.PrivateKeyFile = "", keyFile
				}
				s, err := NewIntrospection(cfg) // the token: client credentials, obtained in Setup
				if err != nil {
					t.Fatal(err)
				}
				expect(t, run(t, s, 2), c.kind)
			})
		}
	}
	t.Run("an obtained token is obtained again at half its life", func(t *testing.T) {
		srv.setMode("introspect", "")
		srv.setMode("token", "short-lived") // expires_in 1
		defer srv.setMode("token", "")
		s, _ := NewIntrospection(srv.config())
		before := srv.served("token")
		res, err := loadgen.Run(context.Background(), s, loadgen.Options{Workers: 2, Duration: 1600 * time.Millisecond})
		if err != nil || len(res.Errors) != 0 {
			t.Fatalf("%v %v", err, res.Errors)
		}
		// Setup's token, then one every half second: 3 to 5, not one per
		// iteration.
		if n := srv.served("token") - before; n < 3 || n > 6 {
			t.Fatalf("%d token requests for %d introspections", n, res.Iterations)
		}
	})
	t.Run("a given token", func(t *testing.T) {
		srv.setMode("introspect", "")
		cfg := srv.config()
		cfg.AccessTokens = []string{srv.residentToken("resident-1")}
		s, _ := NewIntrospection(cfg)
		before := srv.served("token")
		expect(t, run(t, s, 2), "")
		if srv.served("token") != before {
			t.Fatal("a token was obtained although one was given")
		}
	})
}

func TestSetupRefusesWhatCannotWork(t *testing.T) {
	srv := newOAuthServer(t)
	for _, c := range []struct {
		name  string
		build func(Config) (loadgen.Scenario, error)
		cfg   Config
		want  string
	}{
		{"client-credentials without a secret", NewClientCredentials, Config{Issuer: srv.URL, ClientID: "x"}, "-client-secret"},
		{"client-credentials-jwt without a key", NewClientCredentialsJWT, Config{Issuer: srv.URL, ClientID: "x"}, "-key"},
		{"a key file that is not a key", NewClientCredentialsJWT, Config{Issuer: srv.URL, ClientID: "x", PrivateKeyFile: writeFile(t, "not a key")}, "no PEM block"},
		{"no client ID", NewClientCredentials, Config{Issuer: srv.URL, ClientSecret: "s"}, "-client-id"},
		{"refresh without tokens", NewRefresh, srv.config(), "-refresh-token"},
		{"introspection without client authentication", NewIntrospection, Config{Issuer: srv.URL, ClientID: "x"}, "client authentication"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := c.build(c.cfg); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrConfig mentioning %s", err, c.want)
			}
		})
	}

	t.Run("a discovery document naming another issuer", func(t *testing.T) {
		srv.setMode("discovery", "other-issuer")
		defer srv.setMode("discovery", "")
		s, _ := NewClientCredentials(srv.config())
		if _, err := loadgen.Run(context.Background(), s, loadgen.Options{Workers: 1, MaxIterations: 1}); !errors.Is(err, loadgen.ErrSetup) || !strings.Contains(err.Error(), "elsewhere") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("explicit endpoints need no discovery", func(t *testing.T) {
		s, _ := NewClientCredentials(Config{TokenEndpoint: srv.URL + "/token", JWKSURI: srv.URL + "/jwks", ClientID: srv.clientID, ClientSecret: srv.secret})
		expect(t, run(t, s, 1), "")
	})
	t.Run("no token endpoint at all", func(t *testing.T) {
		s, _ := NewClientCredentials(Config{ClientID: "x", ClientSecret: "y"})
		if _, err := loadgen.Run(context.Background(), s, loadgen.Options{Workers: 1, MaxIterations: 1}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "-token-endpoint") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a JWT without a JWKS to verify it", func(t *testing.T) {
		s, _ := NewClientCredentials(Config{TokenEndpoint: srv.URL + "/token", ClientID: srv.clientID, ClientSecret: srv.secret})
		expect(t, run(t, s, 1), KindSignature)
	})
}

func TestTheScenariosAreRegisteredWithTheirFlags(t *testing.T) {
	var names []string
	for _, r := range loadgen.Registered() {
		names = append(names, r.Name)
	}
	for _, want := range []string{"client-credentials", "client-credentials-jwt", "refresh", "userinfo", "introspection"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s is not registered (%v)", want, names)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	loadgen.DefineFlags(fs)
	srv := newOAuthServer(t)
	tokens := writeFile(t, "# resident tokens\n"+srv.residentToken("r1")+"\n\n"+srv.residentToken("r2")+"\n")
	secret := writeFile(t, srv.secret+"\n")
	if err := fs.Parse([]string{"-issuer", srv.URL, "-client-id", srv.clientID, "-client-secret-file", secret,
		"-token-file", tokens, "-token", srv.residentToken("r3")}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		flagValues = struct {
			cfg                                Config
			secretFile, tokenFile, refreshFile string
			tokens, refreshTokens              stringList
		}{}
	})
	cfg, err := FlagConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientSecret != srv.secret || len(cfg.AccessTokens) != 3 || cfg.Issuer != srv.URL {
		t.Fatalf("config from flags: secret ok %v, %d tokens, issuer %q", cfg.ClientSecret == srv.secret, len(cfg.AccessTokens), cfg.Issuer)
	}
	s, err := loadgen.New("userinfo")
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, s, 3)
	expect(t, res, "")
	_ = maps.Keys(res.Errors)
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
