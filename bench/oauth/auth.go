package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// authMethod is how a client authenticates (RFC 6749 §2.3).
type authMethod int

const (
	authNone  authMethod = iota // public client: client_id in the body
	authBasic                   // client_secret_basic, RFC 6749 §2.3.1
	authJWT                     // private_key_jwt, RFC 7523 §2.2
)

// clientAuth authenticates requests to the token and introspection
// endpoints.
type clientAuth struct {
	method   authMethod
	clientID string
	basic    string // the Authorization header value
	signer   jose.Signer
}

// newClientAuth picks the method: private_key_jwt when a key is given, else
// client_secret_basic when a secret is, else none.
func newClientAuth(cfg Config) (*clientAuth, error) {
	a := &clientAuth{clientID: cfg.ClientID}
	switch {
	case cfg.ClientID == "":
		return nil, fmt.Errorf("%w: a client ID (-client-id) is required", ErrConfig)
	case cfg.PrivateKeyFile != "":
		signer, err := assertionSigner(cfg.PrivateKeyFile, cfg.KeyID)
		if err != nil {
			return nil, err
		}
		a.method, a.signer = authJWT, signer
	case cfg.ClientSecret != "":
		// RFC 6749 §2.3.1: both are form-urlencoded before base64.
		cred := url.QueryEscape(cfg.ClientID) + ":" + url.QueryEscape(cfg.ClientSecret)
		a.method, a.basic = authBasic, "Basic "+base64.StdEncoding.EncodeToString([]byte(cred))
	default:
		a.method = authNone
	}
	return a, nil
}

// post sends form to endpoint with the client's authentication; aud is the
// audience of a client assertion (the token endpoint).
func (a *clientAuth) post(ctx context.Context, c *http.Client, endpoint, aud string, form url.Values) (*http.Response, error) {
	switch a.method {
	case authNone:
		form.Set("client_id", a.clientID)
	case authJWT:
		assertion, err := a.assertion(aud)
		if err != nil {
			return nil, err
		}
		// RFC 7523 §2.2, RFC 7521 §4.2 (client_id is optional; sent so that
		// servers that look the client up first find it).
		form.Set("client_id", a.clientID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if a.method == authBasic {
		req.Header.Set("Authorization", a.basic)
	}
	return c.Do(req)
}

// assertion is a fresh client assertion (RFC 7523 §3): iss = sub = the
// client, aud = the token endpoint, a unique jti, a one-minute life.
func (a *clientAuth) assertion(aud string) (string, error) {
	var jti [16]byte
	rand.Read(jti[:])
	now := time.Now()
	return jwt.Signed(a.signer).Claims(jwt.Claims{
		Issuer: a.clientID, Subject: a.clientID, Audience: jwt.Audience{aud},
		ID:       base64.RawURLEncoding.EncodeToString(jti[:]),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
	}).Serialize()
}

// loadPrivateKey reads a PEM private key: PKCS#8, SEC 1 (EC PRIVATE KEY) or
// PKCS#1 (RSA PRIVATE KEY).
func loadPrivateKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the private key: %w", ErrConfig, err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%w: %s holds no PEM block", ErrConfig, path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		err = fmt.Errorf("PEM type %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %s: %T cannot sign", ErrConfig, path, key)
	}
	return signer, nil
}

// algorithmFor is the JWS algorithm for a key: ES256/384/512 by curve,
// RS256 for RSA, EdDSA for Ed25519 (RFC 7518 §3.1, RFC 8037).
func algorithmFor(key crypto.Signer) (jose.SignatureAlgorithm, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return "", errors.New("RSA keys under 2048 bits are refused (RFC 7518 §3.3)")
		}
		return jose.RS256, nil
	case ed25519.PrivateKey:
		return jose.EdDSA, nil
	}
	return "", fmt.Errorf("no JWS algorithm for a %T", key)
}

func assertionSigner(path, kid string) (jose.Signer, error) {
	key, err := loadPrivateKey(path)
	if err != nil {
		return nil, err
	}
	alg, err := algorithmFor(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	var sk any = key
	if kid != "" {
		sk = jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: string(alg)}
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: sk}, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	return s, nil
}

// PublicJWKS is the JWK Set (RFC 7517 §5) of the public half of the PEM
// private key at path: what a client registers as "jwks" for
// private_key_jwt (RFC 7523 §2.2; OpenID Connect Registration §2) so that
// the client-credentials-jwt scenario can sign with that key (-key). The
// one key carries kid = its RFC 7638 SHA-256 thumbprint (give it to the
// scenario with -key-id), alg = the algorithm the scenario signs with, and
// use = sig.
func PublicJWKS(path string) ([]byte, error) {
	key, err := loadPrivateKey(path)
	if err != nil {
		return nil, err
	}
	alg, err := algorithmFor(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	jwk := jose.JSONWebKey{Key: key.Public(), Algorithm: string(alg), Use: "sig"}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: thumbprint: %w", ErrConfig, path, err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	return json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
}
