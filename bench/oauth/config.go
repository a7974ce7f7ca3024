package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"eidp/bench/loadgen"
)

// ErrConfig is returned for a Config that cannot run the scenario asked for.
var ErrConfig = errors.New("oauth: incomplete configuration")

// Failure kinds the scenarios report (loadgen.Failure.Kind), besides the
// engine's "transport" and "context".
const (
	KindStatus      = "status"       // an HTTP status other than the one expected
	KindBody        = "body"         // not JSON, not the content type expected, or unreadable
	KindTokenFormat = "token_format" // a token response missing or mangling a required member
	KindSignature   = "signature"    // a JWT whose signature does not verify, or by an unknown key
	KindClaims      = "claims"       // a JWT or response whose claims are wrong (expired, other client, no sub)
	KindInactive    = "inactive"     // an introspection answer with active other than true
	KindJWKS        = "jwks"         // the JWKS could not be fetched again for an unknown kid
)

// Config is what a scenario needs to know about the server and the client.
// Endpoints not given are read from discovery at Issuer; given ones win.
type Config struct {
	// Issuer is the issuer identifier; discovery is fetched from
	// Issuer + "/.well-known/openid-configuration" (OpenID Connect
	// Discovery 1.0 §4), or "/.well-known/oauth-authorization-server"
	// (RFC 8414 §3) when the first is not found.
	Issuer                string
	TokenEndpoint         string
	IntrospectionEndpoint string
	UserinfoEndpoint      string
	JWKSURI               string

	ClientID     string
	ClientSecret string
	// PrivateKeyFile is a PEM private key (PKCS#8, SEC 1 or PKCS#1) for
	// private_key_jwt; KeyID is the kid put in the assertion's header
	// (none when empty).
	PrivateKeyFile string
	KeyID          string
	// Scope is sent with client-credentials requests (none when empty).
	Scope string

	// AccessTokens are used by userinfo and introspection, worker i
	// taking AccessTokens[i % len]; when empty, the scenario obtains one
	// with the client credentials grant in Setup.
	AccessTokens []string
	// RefreshTokens are used by refresh: one shared by all workers when
	// the server does not rotate them, or at least one per worker when it
	// does (worker i takes RefreshTokens[i]).
	RefreshTokens []string
}

// endpoints are the server's URLs after discovery.
type endpoints struct {
	issuer, token, introspection, userinfo, jwks string
}

// discover resolves the endpoints: explicit ones from cfg, the rest from the
// discovery document when cfg.Issuer is set.
func discover(ctx context.Context, c *http.Client, cfg Config) (endpoints, error) {
	ep := endpoints{issuer: cfg.Issuer, token: cfg.TokenEndpoint, introspection: cfg.IntrospectionEndpoint,
		userinfo: cfg.UserinfoEndpoint, jwks: cfg.JWKSURI}
	if cfg.Issuer == "" {
		return ep, nil
	}
	base := strings.TrimSuffix(cfg.Issuer, "/")
	var doc struct {
		Issuer                string `json:"issuer"`
		TokenEndpoint         string `json:"token_endpoint"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
		UserinfoEndpoint      string `json:"userinfo_endpoint"`
		JWKSURI               string `json:"jwks_uri"`
	}
	var err error
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		var status int
		status, err = getJSON(ctx, c, base+path, "", &doc)
		if status != http.StatusNotFound {
			break
		}
	}
	if err != nil {
		return ep, fmt.Errorf("discovery at %s: %w", base, err)
	}
	// OpenID Connect Discovery 1.0 §4.3, RFC 8414 §3.3: the document's
	// issuer is the one asked for.
	if strings.TrimSuffix(doc.Issuer, "/") != base {
		return ep, fmt.Errorf("discovery at %s names issuer %q", base, doc.Issuer)
	}
	ep.issuer = doc.Issuer
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&ep.token, doc.TokenEndpoint)
	fill(&ep.introspection, doc.IntrospectionEndpoint)
	fill(&ep.userinfo, doc.UserinfoEndpoint)
	fill(&ep.jwks, doc.JWKSURI)
	return ep, nil
}

// maxBody bounds every response body read.
const maxBody = 1 << 20

// drain reads what is left of a body (so the connection is reused) and
// closes it.
func drain(body io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(body, maxBody))
	body.Close()
}

// getJSON fetches a JSON document with an optional bearer token. It returns
// the status, and a *loadgen.Failure for anything but 200 and a JSON body.
func getJSON(ctx context.Context, c *http.Client, url, bearer string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer drain(resp.Body)
	return resp.StatusCode, readJSON(resp, url, v)
}

// readJSON checks a 200 with a JSON body and decodes it into v.
func readJSON(resp *http.Response, what string, v any) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return err // a transport error
	}
	if resp.StatusCode != http.StatusOK {
		return statusFailure(what, resp.StatusCode, body)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return loadgen.Fail(KindBody, "%s: content type %q, want application/json", what, resp.Header.Get("Content-Type"))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return loadgen.Fail(KindBody, "%s: the body is not the JSON expected: %v", what, err)
	}
	return nil
}

// statusFailure reports an unexpected status with the OAuth error code when
// the body has one (RFC 6749 §5.2), never the body itself.
func statusFailure(what string, status int, body []byte) *loadgen.Failure {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" && len(e.Error) < 64 {
		return loadgen.Fail(KindStatus, "%s: status %d (error %q), want 200", what, status, e.Error)
	}
	return loadgen.Fail(KindStatus, "%s: status %d, want 200", what, status)
}
