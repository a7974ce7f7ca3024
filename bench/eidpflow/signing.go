package eidpflow

// Remote signing: sign-hash and pades (DESIGN.md "Performance": signHash
// per server CPU-second, PAdES latency by PDF size).
//
// Both measure a signature call with the activation already done, as a
// service that had the resident approve a batch earlier would make it. In
// Setup (not measured), each of min(Residents, SADs) residents logs in
// through the login flow with scope "openid service" (the seeded consent
// covers it: `eidp dev seed --certificates`), lists their credentials and
// reads the certificate (CSC API v2 §11.4, §11.5), then, for each SAD, asks
// credentials/authorize for one SHA-256 digest (§11.6; the explicit route
// of signing/csc, which answers with the SAD and an approval URI) and
// approves the request in the same browser session: the approval page for
// its CSRF token, POST /api/sign/options {id} (a WebAuthn challenge that
// commits to the digest, signing/activation) and POST /api/sign/approve
// {id, response} with a user-verified assertion of the resident's derived
// passkey. Up to -workers residents are prepared at once.
//
// Each iteration then spends one SAD: sign-hash posts signatures/signHash
// (§11.9) and verifies the ECDSA signature over the digest with the
// certificate's public key; pades posts signatures/signDoc (§11.10) with
// the whole PDF (signature_format P, conformance_level Ades-B-T) and checks
// the signed PDF with signing/pdf and signing/cms (one signature more,
// ETSI.CAdES.detached, CMS verified over the ByteRange digest, the
// credential's certificate, a signature time-stamp). Latency ends when the
// answer is read (loadgen.Responded), before these checks.
//
// A SAD is single-use and expires 5 minutes after approval, so a run is
// bounded by count: -sads N prepares N SADs, and the run must start no more
// than N iterations, warm-up included (-max N -warmup 0 -duration 0); one
// more fails with KindSADsUsedUp. Set-up must also end well within the 5
// minutes. eidp accepts signDoc bodies up to max_document_bytes (32 MiB by
// default) in base64, whatever max_body_bytes says.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"eidp/bench/loadgen"
	"eidp/bench/seed/population"
	"eidp/idp/passkey/passkeytest"
)

// Scenario names of remote signing, as given to -scenario.
const (
	ScenarioSignHash = "sign-hash"
	ScenarioPAdES    = "pades"
)

// ServiceScope is what the signing scenarios' logins ask for: the CSC API's
// "service" scope (credentials/list, credentials/info,
// credentials/authorize), which `eidp dev seed --certificates` consents to.
const ServiceScope = "openid service"

// Failure kinds of the signing scenarios (besides the login's).
const (
	KindCredentials   = "credentials"    // credentials/list or credentials/info (CSC §11.4, §11.5)
	KindSignAuthorize = "sign_authorize" // credentials/authorize (CSC §11.6)
	KindApproval      = "approval"       // the approval page, /api/sign/options or /api/sign/approve
	KindSignHash      = "sign_hash"      // signatures/signHash answered wrongly (CSC §11.9)
	KindSignDoc       = "sign_doc"       // signatures/signDoc answered wrongly (CSC §11.10)
	KindSignature     = "signature"      // a signature that does not verify
	KindSADsUsedUp    = "sads_used_up"   // more iterations than SADs prepared
)

// OIDs the requests name (RFC 5754 §2, RFC 5758 §3.2).
const (
	oidSHA256          = "2.16.840.1.101.3.4.2.1"
	oidECDSAWithSHA256 = "1.2.840.10045.4.3.2"
)

// cscBase is where eidp serves the CSC API (signing/csc.Prefix).
const cscBase = "/csc/v2/"

// MaxSADs bounds -sads: every SAD is a pending request and an approval in
// the server's database, and lives 5 minutes after approval.
const MaxSADs = 200_000

// SigningConfig configures sign-hash and pades.
type SigningConfig struct {
	LoginFlowConfig
	// SADs is how many signature activations Setup prepares: one per
	// iteration, warm-up included. A run must stay within it (-max with
	// -warmup 0); the iteration after the last fails with KindSADsUsedUp.
	SADs int
	// PDF is the document pades signs (nil: GeneratePDF(PDFSize)).
	PDF []byte
	// PDFSize is the size of the generated document (default
	// DefaultPDFSize).
	PDFSize int
}

func (c *SigningConfig) check() error {
	if err := c.LoginFlowConfig.check(); err != nil {
		return err
	}
	if c.SADs < 1 || c.SADs > MaxSADs {
		return fmt.Errorf("%w: -sads must be 1 to %d (one signature activation per iteration, warm-up included)", ErrConfig, MaxSADs)
	}
	if c.PDFSize == 0 {
		c.PDFSize = DefaultPDFSize
	}
	if c.PDFSize < 0 || c.PDFSize > MaxPDFSize {
		return fmt.Errorf("%w: -pdf-size must be 1 to %d bytes", ErrConfig, MaxPDFSize)
	}
	if len(c.PDF) > MaxPDFSize {
		return fmt.Errorf("%w: the PDF is larger than %d bytes (the server's signDoc limit)", ErrConfig, MaxPDFSize)
	}
	return nil
}

// credential is a resident's signing credential as the service sees it.
type credential struct {
	id    string
	cert  *x509.Certificate
	key   *ecdsa.PublicKey
	token string // the resident's service access token
}

// activationData is one approved request: its SAD, usable once, for the
// approved digest.
type activationData struct {
	cred   *credential
	sad    string
	digest []byte
}

// signer is what both scenarios share: the login, the credentials and the
// SADs prepared in Setup, handed out one per iteration.
type signer struct {
	f    *flow
	cfg  SigningConfig
	base string // the issuer's origin, for /csc/v2/ and /api/sign/

	sads      []activationData
	next      atomic.Int64
	signed    atomic.Int64
	setupTook time.Duration
	residents int
}

func newSigner(cfg SigningConfig) (*signer, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	f, err := newFlow(cfg.LoginFlowConfig)
	if err != nil {
		return nil, err
	}
	return &signer{f: f, cfg: cfg, base: f.origin}, nil
}

// prepare logs residents in and pre-authorises SADs, one per digest(i),
// spread round-robin over min(Residents, SADs) residents so that
// consecutive iterations sign for different residents. It runs up to
// env.Workers residents at once.
func (s *signer) prepare(ctx context.Context, env *loadgen.Env, digest func(i int) []byte) error {
	start := time.Now()
	if err := s.f.setup(ctx, env.Client); err != nil {
		return err
	}
	s.residents = min(s.cfg.Residents, s.cfg.SADs)
	s.sads = make([]activationData, s.cfg.SADs)
	s.next.Store(0) // a new Setup, a new supply
	s.signed.Store(0)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		slots = make(chan struct{}, max(env.Workers, 1))
	)
	for k := range s.residents {
		wg.Go(func() {
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			case <-ctx.Done():
				return
			}
			// Resident k prepares SADs k, k+R, k+2R, …
			var mine []int
			for i := k; i < s.cfg.SADs; i += s.residents {
				mine = append(mine, i)
			}
			if err := s.prepareResident(ctx, env.Client, s.cfg.FirstResident+k, mine, digest); err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.setupTook = time.Since(start)
	return nil
}

// prepareResident logs resident index in, finds their credential and
// prepares the SADs of slots: credentials/authorize for the digest, then
// the approval, in the login's browser session, with the resident's
// passkey.
func (s *signer) prepareResident(ctx context.Context, base *http.Client, index int, slots []int, digest func(i int) []byte) error {
	// One browser: flow.login keeps its cookie jar to itself, so the jar
	// here is filled by tapping the responses of the login's requests; the
	// approval then continues that session (its cookie, and the flow
	// cookie that the CSRF token and the passkey ceremony are bound to).
	jar, _ := cookiejar.New(nil)
	tapped := &http.Client{Transport: cookieTap{base: base.Transport, jar: jar}, Timeout: base.Timeout, CheckRedirect: base.CheckRedirect}
	l, err := s.f.login(ctx, tapped, index, ServiceScope, nil)
	if err != nil {
		return fmt.Errorf("logging in resident %d: %w", index, err)
	}
	browser := &http.Client{Transport: base.Transport, Jar: jar, Timeout: base.Timeout, CheckRedirect: base.CheckRedirect}
	cred, err := s.credential(ctx, base, l.accessToken)
	if err != nil {
		return fmt.Errorf("resident %d: %w", index, err)
	}
	r := population.Derive(s.cfg.KeySeed, index)
	csrf := ""
	for _, i := range slots {
		d := digest(i)
		sad, approvalURI, err := s.authorize(ctx, base, cred, d)
		if err != nil {
			return fmt.Errorf("resident %d: %w", index, err)
		}
		if csrf == "" {
			// The approval page, once per browser: the CSRF token is the
			// flow cookie's, the same for every request.
			if csrf, err = s.approvalPage(ctx, browser, approvalURI); err != nil {
				return fmt.Errorf("resident %d: %w", index, err)
			}
		}
		if err := s.approve(ctx, browser, r, approvalURI, csrf); err != nil {
			return fmt.Errorf("resident %d: %w", index, err)
		}
		s.sads[i] = activationData{cred: cred, sad: sad, digest: d}
	}
	return nil
}

// cookieTap copies the cookies every response sets into jar.
type cookieTap struct {
	base http.RoundTripper
	jar  http.CookieJar
}

func (t cookieTap) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil {
		if cs := resp.Cookies(); len(cs) > 0 {
			t.jar.SetCookies(req.URL, cs)
		}
	}
	return resp, err
}

// credential lists the resident's credentials (CSC §11.4) and reads the
// first valid one's certificate (§11.5).
func (s *signer) credential(ctx context.Context, c *http.Client, token string) (*credential, error) {
	var list struct {
		CredentialIDs []string `json:"credentialIDs"`
	}
	if err := s.csc(ctx, c, "credentials/list", token, map[string]any{"onlyValid": true}, KindCredentials, &list); err != nil {
		return nil, err
	}
	if len(list.CredentialIDs) == 0 {
		return nil, loadgen.Fail(KindCredentials, "credentials/list: no valid credential (seed with `eidp dev seed --certificates`)")
	}
	var info struct {
		Key struct {
			Status string `json:"status"`
		} `json:"key"`
		Cert struct {
			Status       string   `json:"status"`
			Certificates []string `json:"certificates"`
		} `json:"cert"`
	}
	id := list.CredentialIDs[0]
	if err := s.csc(ctx, c, "credentials/info", token, map[string]any{"credentialID": id, "certificates": "single"}, KindCredentials, &info); err != nil {
		return nil, err
	}
	if info.Key.Status != "enabled" || info.Cert.Status != "valid" || len(info.Cert.Certificates) != 1 {
		return nil, loadgen.Fail(KindCredentials, "credentials/info: key %q, certificate %q, %d certificates; want an enabled key with one valid certificate",
			truncate(info.Key.Status), truncate(info.Cert.Status), len(info.Cert.Certificates))
	}
	der, err := base64.StdEncoding.DecodeString(info.Cert.Certificates[0])
	if err != nil {
		return nil, loadgen.Fail(KindCredentials, "credentials/info: the certificate is not base64")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, loadgen.Fail(KindCredentials, "credentials/info: the certificate does not parse: %v", err)
	}
	key, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, loadgen.Fail(KindCredentials, "credentials/info: the certificate's key is %T, not ECDSA", cert.PublicKey)
	}
	return &credential{id: id, cert: cert, key: key, token: token}, nil
}

// authorize asks for a SAD for one digest (CSC §11.6, explicit route): the
// SAD and the approval page come back.
func (s *signer) authorize(ctx context.Context, c *http.Client, cred *credential, digest []byte) (sad, approvalURI string, err error) {
	var out struct {
		SAD         string `json:"SAD"`
		ExpiresIn   int    `json:"expiresIn"`
		ApprovalURI string `json:"approvalURI"`
	}
	req := map[string]any{"credentialID": cred.id, "numSignatures": 1, "hashes": []string{base64.StdEncoding.EncodeToString(digest)},
		"hashAlgorithmOID": oidSHA256, "description": "eidp load generator"}
	if err := s.csc(ctx, c, "credentials/authorize", cred.token, req, KindSignAuthorize, &out); err != nil {
		return "", "", err
	}
	if out.SAD == "" || out.ExpiresIn <= 0 || !strings.HasPrefix(out.ApprovalURI, s.base+"/") {
		return "", "", loadgen.Fail(KindSignAuthorize, "credentials/authorize: no SAD, expiresIn or approvalURI on the issuer's origin")
	}
	return out.SAD, out.ApprovalURI, nil
}

// approvalPage opens the approval page in the logged-in browser and
// returns its CSRF token.
func (s *signer) approvalPage(ctx context.Context, browser *http.Client, approvalURI string) (string, error) {
	resp, body, err := get(ctx, browser, approvalURI, nil)
	if err != nil {
		return "", err
	}
	if resp.StatusCode == http.StatusSeeOther {
		return "", loadgen.Fail(KindApproval, "the approval page sent the browser away (to log in?): the login's session did not carry over")
	}
	if resp.StatusCode != http.StatusOK {
		return "", statusFailure(KindApproval, "approval page", resp.StatusCode, http.StatusOK, body)
	}
	m := csrfMeta.FindSubmatch(body)
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/html" || m == nil {
		return "", loadgen.Fail(KindApproval, "approval page: not an HTML page with a CSRF token")
	}
	return string(m[1]), nil
}

// approve runs the approval ceremony of the request at approvalURI: its
// options (a challenge that commits to the digest, signing/activation)
// and a user-verified assertion by the resident's passkey.
func (s *signer) approve(ctx context.Context, browser *http.Client, r population.Resident, approvalURI, csrf string) error {
	u, err := url.Parse(approvalURI)
	if err != nil || u.Query().Get("id") == "" {
		return loadgen.Fail(KindSignAuthorize, "credentials/authorize: the approvalURI names no request")
	}
	id := u.Query().Get("id")
	req, _ := json.Marshal(map[string]string{"id": id})
	resp, body, err := postJSON(ctx, browser, s.base+"/api/sign/options", csrf, req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return statusFailure(KindApproval, "approval options", resp.StatusCode, http.StatusOK, body)
	}
	var opts struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
	}
	if err := decodeJSON(resp, body, &opts); err != nil || opts.Challenge == "" {
		return loadgen.Fail(KindApproval, "approval options: not request options JSON with a challenge (%v)", err)
	}
	rpID := opts.RPID
	if rpID == "" {
		rpID = u.Hostname()
	}
	phone := passkeytest.NewAuthenticator(s.f.origin, passkeytest.WithCounter(passkeytest.CounterZero))
	phone.AddCredential(r.CredentialID, r.Key, []byte(r.ID), rpID)
	assertion, err := phone.Get(body)
	if err != nil {
		return loadgen.Fail(KindApproval, "the authenticator refused the approval options: %v", err)
	}
	req, _ = json.Marshal(map[string]any{"id": id, "response": json.RawMessage(assertion)})
	resp, body, err = postJSON(ctx, browser, s.base+"/api/sign/approve", csrf, req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return statusFailure(KindApproval, "approval", resp.StatusCode, http.StatusOK, body)
	}
	var result struct {
		Redirect string `json:"redirect"`
	}
	if err := decodeJSON(resp, body, &result); err != nil || result.Redirect == "" {
		return loadgen.Fail(KindApproval, "approval: not a ceremony result with a redirect (%v)", err)
	}
	return nil
}

// csc posts a CSC API call with the bearer token and decodes a 200 answer.
func (s *signer) csc(ctx context.Context, c *http.Client, method, token string, in any, kind string, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, raw, err := postBearer(ctx, c, s.base+cscBase+method, token, body, maxBody)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return statusFailure(kind, method, resp.StatusCode, http.StatusOK, raw)
	}
	if err := decodeJSON(resp, raw, out); err != nil {
		return loadgen.Fail(kind, "%s: %v", method, err)
	}
	return nil
}

// take hands out the next SAD, or fails once they are used up.
func (s *signer) take() (activationData, error) {
	i := s.next.Add(1) - 1
	if i >= int64(len(s.sads)) {
		return activationData{}, loadgen.Fail(KindSADsUsedUp,
			"all %d SADs prepared in Setup are used: bound the run with -max (and -warmup 0) or prepare more with -sads", len(s.sads))
	}
	return s.sads[i], nil
}

func (s *signer) notes(what string) []string {
	return []string{
		fmt.Sprintf("%d %s verified; %d of %d SADs used", s.signed.Load(), what, min(s.next.Load(), int64(len(s.sads))), len(s.sads)),
		fmt.Sprintf("setup: %d residents logged in, %d SADs authorised and approved in %s (SADs expire 5 minutes after approval)",
			s.residents, len(s.sads), s.setupTook.Round(time.Millisecond)),
	}
}

// postBearer posts a JSON body with a bearer token and reads at most limit
// bytes of the answer.
func postBearer(ctx context.Context, c *http.Client, target, token string, body []byte, limit int64) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(raw)) > limit {
		return resp, nil, fmt.Errorf("%w: %s answered more than %d bytes", errTooLarge, target, limit)
	}
	return resp, raw, nil
}

var errTooLarge = errors.New("response too large")

// SignHash is the sign-hash scenario: CSC signatures/signHash with
// pre-authorised signature activation. Setup logs residents in (scope
// "openid service"), reads their credential, and authorises and approves
// SADs, one per iteration, each for a random SHA-256 digest; an
// iteration spends one SAD on signHash and verifies the signature with
// the certificate's public key.
type SignHash struct {
	*signer
}

// NewSignHash returns the sign-hash scenario.
func NewSignHash(cfg SigningConfig) (loadgen.Scenario, error) {
	s, err := newSigner(cfg)
	if err != nil {
		return nil, err
	}
	return &SignHash{s}, nil
}

// Name implements loadgen.Scenario.
func (s *SignHash) Name() string { return ScenarioSignHash }

// Setup implements loadgen.Scenario.
func (s *SignHash) Setup(ctx context.Context, env *loadgen.Env) error {
	return s.prepare(ctx, env, func(int) []byte {
		d := make([]byte, sha256.Size)
		rand.Read(d)
		return d
	})
}

// Do implements loadgen.Scenario: one signHash (CSC §11.9), the
// signature checked against the credential's certificate.
func (s *SignHash) Do(ctx context.Context, w *loadgen.Worker) error {
	a, err := s.take()
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"credentialID": a.cred.id, "SAD": a.sad,
		"hashes": []string{base64.StdEncoding.EncodeToString(a.digest)}, "hashAlgorithmOID": oidSHA256, "signAlgo": oidECDSAWithSHA256})
	resp, raw, err := postBearer(ctx, w.Client, s.base+cscBase+"signatures/signHash", a.cred.token, body, maxBody)
	loadgen.Responded(ctx)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return statusFailure(KindSignHash, "signHash", resp.StatusCode, http.StatusOK, raw)
	}
	var out struct {
		Signatures []string `json:"signatures"`
	}
	if err := decodeJSON(resp, raw, &out); err != nil {
		return loadgen.Fail(KindSignHash, "signHash: %v", err)
	}
	if len(out.Signatures) != 1 {
		return loadgen.Fail(KindSignHash, "signHash: %d signatures for one hash", len(out.Signatures))
	}
	sig, err := base64.StdEncoding.DecodeString(out.Signatures[0])
	if err != nil {
		return loadgen.Fail(KindSignHash, "signHash: the signature is not base64")
	}
	// CSC §11.9 with ecdsa-with-SHA256: a DER Ecdsa-Sig-Value over the
	// digest as given (RFC 5758 §3.2).
	if !ecdsa.VerifyASN1(a.cred.key, a.digest, sig) {
		return loadgen.Fail(KindSignature, "the signHash signature does not verify with the credential's certificate")
	}
	s.signed.Add(1)
	return nil
}

// Notes implements loadgen.Noter.
func (s *SignHash) Notes() []string { return s.notes("signatures") }

// signingFlags are bound to the command's flags by init; the login's
// flags are config.go's.
var signingFlags struct {
	sads    int
	pdfPath string
	pdfSize int
}

func init() {
	loadgen.RegisterFlags(func(fs *flag.FlagSet) {
		fs.IntVar(&signingFlags.sads, "sads", 0, "sign-hash, pades: signature activations prepared in setup, one per iteration (warm-up included): run with -max N -warmup 0 -duration 0")
		fs.StringVar(&signingFlags.pdfPath, "pdf", "", "pades: the PDF to sign (default: a generated one of -pdf-size bytes)")
		fs.IntVar(&signingFlags.pdfSize, "pdf-size", DefaultPDFSize, "pades: size in bytes of the generated PDF")
	})
	loadgen.Register(ScenarioSignHash,
		"CSC signHash with pre-authorised signature activation: one approved SAD per iteration, signature verified (eidp)",
		func() (loadgen.Scenario, error) {
			cfg, err := signingFlagConfig()
			if err != nil {
				return nil, err
			}
			return NewSignHash(cfg)
		})
	loadgen.Register(ScenarioPAdES,
		"CSC signDoc, PAdES B-T of a PDF (1 MB by default) with pre-authorised activation, the signed PDF verified (eidp)",
		func() (loadgen.Scenario, error) {
			cfg, err := signingFlagConfig()
			if err != nil {
				return nil, err
			}
			return NewPAdES(cfg)
		})
}

func signingFlagConfig() (SigningConfig, error) {
	lc, err := flagConfig()
	if err != nil {
		return SigningConfig{}, err
	}
	cfg := SigningConfig{LoginFlowConfig: lc, SADs: signingFlags.sads, PDFSize: signingFlags.pdfSize}
	if signingFlags.pdfPath != "" {
		if cfg.PDF, err = readPDF(signingFlags.pdfPath); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// readPDF reads -pdf, refusing more than MaxPDFSize.
func readPDF(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: -pdf: %w", ErrConfig, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxPDFSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: -pdf: %w", ErrConfig, err)
	}
	if len(b) > MaxPDFSize {
		return nil, fmt.Errorf("%w: -pdf is larger than %d bytes (the server's signDoc limit)", ErrConfig, MaxPDFSize)
	}
	return b, nil
}
