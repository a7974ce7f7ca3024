package csc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"eidp/hsm"
	"eidp/idp/account"
	"eidp/idp/provider"
	"eidp/signing/activation"
	"eidp/signing/ca"
	"eidp/signing/tsa"
)

// Spec is the CSC API version we implement.
const Spec = "2.0.0.2"

// Paths.
const (
	Prefix       = "/csc/v2/"
	ApprovalPage = "/sign"
)

// Scopes.
const (
	ScopeService    = "service"
	ScopeCredential = "credential"
)

// TokenVerifier checks our access tokens (the OpenID Provider).
type TokenVerifier interface {
	VerifyAccessToken(ctx context.Context, token string) (provider.AccessToken, error)
}

// ClientNames returns a client's display names (English, Traditional
// Chinese) for the approval page and history.
type ClientNames func(ctx context.Context, clientID string) (en, zh string, err error)

// Deps are what the service uses.
type Deps struct {
	Tokens      TokenVerifier
	CA          *ca.Authority
	Activations *activation.Store
	TSA         *tsa.Authority
	Accounts    *account.Store // the activity log (nil: not recorded)
	ClientNames ClientNames
	Log         *slog.Logger
}

// Options tune the service.
type Options struct {
	Issuer       string // public base URL (approval URIs, oauth2 in info)
	Name         string // service name in info
	MaxDocument  int64  // signDoc: largest document, bytes (default 32 MiB)
	MaxSignHash  int    // hashes per signHash (default activation.MaxDocuments)
	SigningClock func() time.Time
}

// Service is the CSC API.
type Service struct {
	Deps
	opts Options
}

// New returns the service.
func New(d Deps, o Options) (*Service, error) {
	if d.Tokens == nil || d.CA == nil || d.Activations == nil || d.TSA == nil || d.ClientNames == nil {
		return nil, errors.New("csc: missing dependency")
	}
	if o.Issuer == "" {
		return nil, errors.New("csc: issuer missing")
	}
	if o.Name == "" {
		o.Name = "eidp remote signing"
	}
	if o.MaxDocument <= 0 {
		o.MaxDocument = 32 << 20
	}
	if o.MaxSignHash <= 0 {
		o.MaxSignHash = activation.MaxDocuments
	}
	if o.SigningClock == nil {
		o.SigningClock = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &Service{Deps: d, opts: o}, nil
}

// Handler serves /csc/v2/….
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Prefix+"info", s.info)
	mux.HandleFunc("POST "+Prefix+"credentials/list", s.authed(ScopeService, s.credentialsList))
	mux.HandleFunc("POST "+Prefix+"credentials/info", s.authed(ScopeService, s.credentialsInfo))
	mux.HandleFunc("POST "+Prefix+"credentials/authorize", s.authed(ScopeService, s.credentialsAuthorize))
	mux.HandleFunc("POST "+Prefix+"signatures/signHash", s.authed("", s.signHash))
	mux.HandleFunc("POST "+Prefix+"signatures/signDoc", s.authed("", s.signDoc))
	mux.HandleFunc("POST "+Prefix+"signatures/timestamp", s.authed("", s.timestamp))
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeError(w, http.StatusMethodNotAllowed, "invalid_request", "CSC API methods are POST")
			return
		}
		writeError(w, http.StatusNotFound, "invalid_request", "no such CSC API method")
	})
	return mux
}

// apiError is a CSC error answer.
type apiError struct {
	status      int
	code, desc  string
	wwwAuthFail bool
}

func (e *apiError) Error() string { return e.code + ": " + e.desc }

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "invalid_request", desc: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

type handler func(w http.ResponseWriter, r *http.Request, at provider.AccessToken) error

// authed checks the bearer token (and scope, if given), then runs h and
// turns its error into a CSC error answer.
func (s *Service) authed(scope string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer`)
			writeError(w, http.StatusUnauthorized, "invalid_token", "a bearer access token is required")
			return
		}
		at, err := s.Tokens.VerifyAccessToken(r.Context(), token)
		if err != nil {
			if !errors.Is(err, provider.ErrInvalidToken) {
				s.Log.ErrorContext(r.Context(), "csc: token check", "err", err)
				writeError(w, http.StatusInternalServerError, "server_error", "try again later")
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid or expired")
			return
		}
		if at.ResidentID == "" {
			writeError(w, http.StatusForbidden, "access_denied", "the access token must be issued to a resident (authorization code flow)")
			return
		}
		if scope != "" && !at.HasScope(scope) {
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+scope+`"`)
			writeError(w, http.StatusForbidden, "insufficient_scope", "the access token needs scope "+scope)
			return
		}
		if err := h(w, r, at); err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				writeError(w, ae.status, ae.code, ae.desc)
				return
			}
			s.Log.ErrorContext(r.Context(), "csc: "+strings.TrimPrefix(r.URL.Path, Prefix), "err", err)
			writeError(w, http.StatusInternalServerError, "server_error", "the request could not be completed")
		}
	}
}

// decode reads a JSON body of at most limit bytes, refusing unknown members
// only where the spec allows none (we ignore unknown ones: CSC clients send
// vendor members).
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) *apiError {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &apiError{status: http.StatusUnsupportedMediaType, code: "invalid_request", desc: "the body must be application/json"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{status: http.StatusRequestEntityTooLarge, code: "invalid_request", desc: fmt.Sprintf("the body is larger than %d bytes", limit)}
		}
		return badRequest("the body is not valid JSON for this method")
	}
	return nil
}

// info: CSC §11.1 (no authentication).
func (s *Service) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{
		"specs":       Spec,
		"name":        s.opts.Name,
		"logo":        s.opts.Issuer + "/static/logo.svg",
		"region":      "HK",
		"lang":        "en",
		"description": "Remote signing with residents' certificates; every signature approved with a passkey.",
		"authType":    []string{"oauth2code"},
		"oauth2":      s.opts.Issuer,
		"methods": []string{"credentials/list", "credentials/info", "credentials/authorize",
			"signatures/signHash", "signatures/signDoc", "signatures/timestamp"},
		"signAlgorithms": map[string]any{"algos": []string{oidECDSAWithSHA256, oidECDSAWithSHA384, oidECDSAWithSHA512}},
		"signature_formats": map[string]any{
			"formats":             []string{"C", "P", "J"},
			"envelope_properties": [][]string{{"Detached"}, {"Certification", "Revision"}, {"Detached", "Attached"}},
		},
		"conformance_levels": []string{"Ades-B-B", "Ades-B-T", "Ades-B-LT"},
	})
}

// Signature algorithm OIDs (RFC 5758).
const (
	oidECPublicKey     = "1.2.840.10045.2.1"
	oidECDSAWithSHA256 = "1.2.840.10045.4.3.2"
	oidECDSAWithSHA384 = "1.2.840.10045.4.3.3"
	oidECDSAWithSHA512 = "1.2.840.10045.4.3.4"
)

// checkSignAlgo accepts signAlgo for a key and the hash algorithm: the
// ECDSA-with-SHA-n OID matching hash, or ecPublicKey (the hash then comes
// from hashAlgorithmOID).
func checkSignAlgo(signAlgo string, hash crypto.Hash) *apiError {
	want := map[crypto.Hash]string{crypto.SHA256: oidECDSAWithSHA256, crypto.SHA384: oidECDSAWithSHA384, crypto.SHA512: oidECDSAWithSHA512}[hash]
	if signAlgo == want || signAlgo == oidECPublicKey {
		return nil
	}
	if signAlgo == "" {
		return badRequest("signAlgo is required")
	}
	return badRequest("signAlgo %s is not supported with hashAlgorithmOID %s (use %s)", signAlgo, activation.HashOID(hash), want)
}

// credential loads a certificate of the token's resident; another
// resident's is not found.
func (s *Service) credential(ctx context.Context, at provider.AccessToken, id string) (ca.Certificate, error) {
	if id == "" {
		return ca.Certificate{}, badRequest("credentialID is required")
	}
	c, err := s.CA.Get(ctx, id)
	if errors.Is(err, ca.ErrNotFound) || err == nil && c.ResidentID != at.ResidentID {
		return ca.Certificate{}, badRequest("invalid parameter credentialID")
	}
	return c, err
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// decodeB64 accepts standard base64 (the CSC encoding) and base64url.
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

type listRequest struct {
	UserID         string `json:"userID"`
	CredentialInfo bool   `json:"credentialInfo"`
	Certificates   string `json:"certificates"`
	CertInfo       bool   `json:"certInfo"`
	AuthInfo       bool   `json:"authInfo"`
	OnlyValid      bool   `json:"onlyValid"`
	ClientData     string `json:"clientData"`
}

// credentialsList: CSC §11.4.
func (s *Service) credentialsList(w http.ResponseWriter, r *http.Request, at provider.AccessToken) error {
	var req listRequest
	if err := decode(w, r, 16<<10, &req); err != nil {
		return err
	}
	if req.UserID != "" {
		return badRequest("userID must not be given with a user-specific access token")
	}
	if err := checkCertificates(req.Certificates); err != nil {
		return err
	}
	certs, err := s.CA.Certificates(r.Context(), at.ResidentID)
	if err != nil {
		return err
	}
	ids := []string{}
	var infos []any
	for _, c := range certs {
		if req.OnlyValid && c.Status != ca.StatusValid {
			continue
		}
		ids = append(ids, c.ID)
		if req.CredentialInfo {
			infos = append(infos, s.credentialInfo(c, req.Certificates, req.CertInfo, req.AuthInfo))
		}
	}
	out := map[string]any{"credentialIDs": ids, "onlyValid": req.OnlyValid}
	if req.CredentialInfo {
		if infos == nil {
			infos = []any{}
		}
		out["credentialInfos"] = infos
	}
	writeJSON(w, out)
	return nil
}

type infoRequest struct {
	CredentialID string `json:"credentialID"`
	Certificates string `json:"certificates"`
	CertInfo     bool   `json:"certInfo"`
	AuthInfo     bool   `json:"authInfo"`
	Lang         string `json:"lang"`
	ClientData   string `json:"clientData"`
}

// credentialsInfo: CSC §11.5.
func (s *Service) credentialsInfo(w http.ResponseWriter, r *http.Request, at provider.AccessToken) error {
	var req infoRequest
	if err := decode(w, r, 16<<10, &req); err != nil {
		return err
	}
	if err := checkCertificates(req.Certificates); err != nil {
		return err
	}
	c, err := s.credential(r.Context(), at, req.CredentialID)
	if err != nil {
		return err
	}
	writeJSON(w, s.credentialInfo(c, req.Certificates, req.CertInfo, req.AuthInfo))
	return nil
}

// checkCertificates accepts the CSC values of the certificates parameter
// (§11.4, §11.5): none, single (the default) or chain.
func checkCertificates(v string) *apiError {
	switch v {
	case "", "none", "single", "chain":
		return nil
	}
	return badRequest("certificates must be none, single or chain")
}

func (s *Service) credentialInfo(c ca.Certificate, certificates string, certInfo, authInfo bool) map[string]any {
	keyStatus := "enabled"
	if c.Status != ca.StatusValid {
		keyStatus = "disabled"
	}
	key := map[string]any{"status": keyStatus, "algo": []string{oidECDSAWithSHA256, oidECDSAWithSHA384, oidECDSAWithSHA512}}
	key["len"] = keyLen(c.Cert)
	if oid := curveOID(c.Cert); oid != "" {
		key["curve"] = oid
	}
	cert := map[string]any{"status": c.Status}
	switch certificates {
	case "", "single":
		cert["certificates"] = []string{b64(c.Cert.Raw)}
	case "chain":
		chain := []string{b64(c.Cert.Raw)}
		for _, x := range c.Chain {
			chain = append(chain, b64(x.Raw))
		}
		cert["certificates"] = chain
	}
	if certInfo {
		cert["issuerDN"] = c.Cert.Issuer.String()
		cert["subjectDN"] = c.Cert.Subject.String()
		cert["serialNumber"] = strings.ToUpper(c.Serial.Text(16))
		cert["validFrom"] = c.Cert.NotBefore.UTC().Format("20060102150405Z")
		cert["validTo"] = c.Cert.NotAfter.UTC().Format("20060102150405Z")
	}
	out := map[string]any{
		"credentialID": c.ID,
		"description":  "Signing certificate of " + c.Cert.Subject.CommonName,
		"key":          key,
		"cert":         cert,
		"SCAL":         "2",
		"multisign":    activation.MaxDocuments,
		"lang":         "en",
	}
	if authInfo {
		out["auth"] = map[string]any{"mode": "oauth2code"}
	}
	return out
}

type authorizeRequest struct {
	CredentialID     string   `json:"credentialID"`
	NumSignatures    int      `json:"numSignatures"`
	Hashes           []string `json:"hashes"`
	HashAlgorithmOID string   `json:"hashAlgorithmOID"`
	Description      string   `json:"description"`
	ClientData       string   `json:"clientData"`
	// Extension: labels shown to the resident, one per hash.
	DocumentLabels []string `json:"documentLabels"`
}

// credentialsAuthorize: CSC §11.6, explicit route with decoupled approval
// (see the package documentation).
func (s *Service) credentialsAuthorize(w http.ResponseWriter, r *http.Request, at provider.AccessToken) error {
	var req authorizeRequest
	if err := decode(w, r, 64<<10, &req); err != nil {
		return err
	}
	c, err := s.credential(r.Context(), at, req.CredentialID)
	if err != nil {
		return err
	}
	if c.Status != ca.StatusValid {
		return badRequest("the credential is %s", c.Status)
	}
	if req.NumSignatures != len(req.Hashes) {
		return badRequest("numSignatures must equal the number of hashes")
	}
	if len(req.DocumentLabels) != 0 && len(req.DocumentLabels) != len(req.Hashes) {
		return badRequest("documentLabels must have one label per hash")
	}
	hash, err := activation.ParseHashOID(req.HashAlgorithmOID)
	if err != nil {
		return badRequest("invalid parameter hashAlgorithmOID")
	}
	docs := make([]activation.Document, len(req.Hashes))
	for i, hv := range req.Hashes {
		h, err := decodeB64(hv)
		if err != nil {
			return badRequest("hashes[%d] is not base64", i)
		}
		label := fmt.Sprintf("Document %d", i+1)
		if len(req.DocumentLabels) > 0 {
			label = req.DocumentLabels[i]
		}
		docs[i] = activation.Document{Label: label, Hash: h}
	}
	ar, sad, err := s.createRequest(r.Context(), activation.RouteExplicit, at.ClientID, at.ResidentID, c.ID, hash, docs, req.Description)
	if err != nil {
		return err
	}
	// expiresIn is the approval window, from the store's own times
	// (time.Until mixed the wall clock with the store's clock).
	writeJSON(w, map[string]any{
		"SAD":              sad,
		"expiresIn":        int(ar.ExpiresAt.Sub(ar.CreatedAt).Seconds()),
		"approvalURI":      s.opts.Issuer + ApprovalPage + "?id=" + ar.ID,
		"verificationCode": ar.Code(),
	})
	return nil
}

// createRequest stores a signing request with the client's names.
func (s *Service) createRequest(ctx context.Context, route, clientID, residentID, credentialID string, hash crypto.Hash, docs []activation.Document, description string) (activation.Request, string, error) {
	en, zh, err := s.ClientNames(ctx, clientID)
	if err != nil {
		return activation.Request{}, "", err
	}
	ar, sad, err := s.Activations.Create(ctx, activation.Request{
		Route: route, ClientID: clientID, ClientName: en, ClientNameZh: zh, ResidentID: residentID,
		CredentialID: credentialID, Hash: hash, Documents: docs, Description: description,
	})
	if errors.Is(err, activation.ErrInvalid) {
		return activation.Request{}, "", badRequest("%s", strings.TrimPrefix(err.Error(), "activation: "))
	}
	return ar, sad, err
}

type signHashRequest struct {
	CredentialID     string   `json:"credentialID"`
	SAD              string   `json:"SAD"`
	Hashes           []string `json:"hashes"`
	HashAlgorithmOID string   `json:"hashAlgorithmOID"`
	SignAlgo         string   `json:"signAlgo"`
	SignAlgoParams   string   `json:"signAlgoParams"`
	OperationMode    string   `json:"operationMode"`
	ClientData       string   `json:"clientData"`
}

// activate gets the credential's signer (refused for a revoked or expired
// certificate, or another resident's) and consumes the activation data:
// the SAD on the explicit route, the credential-scoped token on the OAuth
// route.
func (s *Service) activate(ctx context.Context, at provider.AccessToken, credentialID, sad string, hash crypto.Hash, hashes [][]byte) (activation.Request, []activation.Document, ca.Certificate, hsm.Signer, error) {
	if credentialID == "" {
		return activation.Request{}, nil, ca.Certificate{}, nil, badRequest("credentialID is required")
	}
	signer, c, err := s.CA.Signer(ctx, credentialID)
	switch {
	case errors.Is(err, ca.ErrNotFound) || err == nil && c.ResidentID != at.ResidentID:
		return activation.Request{}, nil, ca.Certificate{}, nil, badRequest("invalid parameter credentialID")
	case errors.Is(err, ca.ErrRevoked) || errors.Is(err, ca.ErrExpired):
		return activation.Request{}, nil, ca.Certificate{}, nil, badRequest("the credential cannot sign: %s", strings.TrimPrefix(err.Error(), "ca: "))
	case err != nil:
		return activation.Request{}, nil, ca.Certificate{}, nil, err
	}
	req, docs, err := s.consume(ctx, at, c, sad, hash, hashes)
	return req, docs, c, signer, err
}

// consume spends the activation data for credential c.
func (s *Service) consume(ctx context.Context, at provider.AccessToken, c ca.Certificate, sad string, hash crypto.Hash, hashes [][]byte) (activation.Request, []activation.Document, error) {
	use := activation.Use{ClientID: at.ClientID, CredentialID: c.ID, Hash: hash, Hashes: hashes}
	switch {
	case sad != "":
		use.SAD = sad
	case at.HasScope(ScopeCredential):
		use.GrantID = at.GrantID
	default:
		return activation.Request{}, nil, badRequest("SAD is required unless the access token has scope credential")
	}
	req, docs, err := s.Activations.Activate(ctx, use)
	switch {
	case err == nil:
		return req, docs, nil
	case errors.Is(err, activation.ErrPending):
		return req, nil, &apiError{status: http.StatusBadRequest, code: "authorization_pending", desc: "the resident has not approved the request yet"}
	case errors.Is(err, activation.ErrNotFound):
		return req, nil, badRequest("invalid SAD")
	case errors.Is(err, activation.ErrUsed):
		return req, nil, badRequest("the SAD was already used")
	case errors.Is(err, activation.ErrExpired):
		return req, nil, badRequest("the SAD or the request expired")
	case errors.Is(err, activation.ErrDenied):
		return req, nil, &apiError{status: http.StatusBadRequest, code: "access_denied", desc: "the resident declined the request"}
	case errors.Is(err, activation.ErrMismatch), errors.Is(err, activation.ErrInvalid):
		return req, nil, badRequest("%s", strings.TrimPrefix(err.Error(), "activation: "))
	}
	return req, nil, err
}

// signHash: CSC §11.9.
func (s *Service) signHash(w http.ResponseWriter, r *http.Request, at provider.AccessToken) error {
	ctx := r.Context()
	var req signHashRequest
	if err := decode(w, r, 256<<10, &req); err != nil {
		return err
	}
	if req.OperationMode != "" && req.OperationMode != "S" {
		return badRequest("only synchronous operationMode S is supported")
	}
	hash, err := activation.ParseHashOID(req.HashAlgorithmOID)
	if err != nil {
		return badRequest("invalid parameter hashAlgorithmOID")
	}
	if aerr := checkSignAlgo(req.SignAlgo, hash); aerr != nil {
		return aerr
	}
	if len(req.Hashes) == 0 || len(req.Hashes) > s.opts.MaxSignHash {
		return badRequest("1 to %d hashes", s.opts.MaxSignHash)
	}
	hashes := make([][]byte, len(req.Hashes))
	for i, hv := range req.Hashes {
		h, err := decodeB64(hv)
		if err != nil {
			return badRequest("hashes[%d] is not base64", i)
		}
		if len(h) != hash.Size() {
			return badRequest("hashes[%d] is %d bytes; %s digests are %d", i, len(h), hash, hash.Size())
		}
		hashes[i] = h
	}
	areq, docs, cert, signer, err := s.activate(ctx, at, req.CredentialID, req.SAD, hash, hashes)
	if err != nil {
		return err
	}
	sigs := make([]string, len(hashes))
	for i, h := range hashes {
		sig, err := signer.SignContext(ctx, h, hash)
		if err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		sigs[i] = b64(sig)
	}
	raw := make([]string, len(docs))
	for i := range raw {
		raw[i] = "raw"
	}
	if err := s.record(ctx, areq, cert, docs, raw); err != nil {
		return err
	}
	writeJSON(w, map[string]any{"signatures": sigs})
	return nil
}

// record stores the signatures made and logs them for the resident.
func (s *Service) record(ctx context.Context, req activation.Request, cert ca.Certificate, docs []activation.Document, formats []string) error {
	recs := make([]activation.Record, len(docs))
	for i, d := range docs {
		recs[i] = activation.Record{
			RequestID: req.ID, ResidentID: req.ResidentID, ClientID: req.ClientID, ClientName: req.ClientName,
			ClientNameZh: req.ClientNameZh, CredentialID: cert.ID, CertSerial: cert.Serial.Text(16),
			HashOID: activation.HashOID(req.Hash), Digest: d.Hash, Label: d.Label, Format: formats[i], Evidence: req.Evidence,
		}
	}
	if err := s.Activations.AddRecords(ctx, recs); err != nil {
		return err
	}
	if s.Accounts != nil {
		// One event per call: the resident approved these documents together.
		detail := map[string]string{"client": req.ClientName, "documents": fmt.Sprint(len(docs)),
			"format": strings.Join(slices.Compact(slices.Sorted(slices.Values(formats))), ", ")}
		if req.ClientNameZh != "" {
			detail["client_zh"] = req.ClientNameZh
		}
		if err := s.Accounts.Record(ctx, req.ResidentID, account.KindSignatureCreated, detail); err != nil {
			s.Log.WarnContext(ctx, "csc: activity log", "err", err)
		}
	}
	return nil
}

type timestampRequest struct {
	Hash             string `json:"hash"`
	HashAlgorithmOID string `json:"hashAlgorithmOID"`
	Nonce            string `json:"nonce"`
	ClientData       string `json:"clientData"`
}

// timestamp: CSC §11.11 — an RFC 3161 token over hash.
func (s *Service) timestamp(w http.ResponseWriter, r *http.Request, at provider.AccessToken) error {
	var req timestampRequest
	if err := decode(w, r, 16<<10, &req); err != nil {
		return err
	}
	hash, err := activation.ParseHashOID(req.HashAlgorithmOID)
	if err != nil {
		return badRequest("invalid parameter hashAlgorithmOID")
	}
	digest, err := decodeB64(req.Hash)
	if err != nil || len(digest) != hash.Size() {
		return badRequest("hash must be a base64 %s digest", hash)
	}
	var nonce *big.Int
	if req.Nonce != "" {
		n, ok := new(big.Int).SetString(req.Nonce, 16)
		if !ok || n.Sign() < 0 || n.BitLen() > 160 {
			return badRequest("nonce must be a hexadecimal number of at most 160 bits")
		}
		nonce = n
	}
	token, err := s.TSA.Stamp(r.Context(), hash, digest, nonce, true)
	if err != nil {
		return err
	}
	writeJSON(w, map[string]any{"timestamp": b64(token)})
	return nil
}

// keyLen is the key size in bits.
func keyLen(c *x509.Certificate) int {
	if ec, ok := c.PublicKey.(*ecdsa.PublicKey); ok {
		return ec.Curve.Params().BitSize
	}
	return 0
}

// curveOID is the named curve of an EC key (RFC 5480).
func curveOID(c *x509.Certificate) string {
	ec, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return ""
	}
	switch ec.Curve {
	case elliptic.P256():
		return "1.2.840.10045.3.1.7"
	case elliptic.P384():
		return "1.3.132.0.34"
	case elliptic.P521():
		return "1.3.132.0.35"
	}
	return ""
}
