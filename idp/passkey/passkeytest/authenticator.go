// Package passkeytest is a software WebAuthn authenticator together with the
// client (browser) half of a ceremony, for tests and the load generator:
// it turns the options JSON a server's Begin call returns into the
// RegistrationResponseJSON or AuthenticationResponseJSON that
// credential.toJSON() produces in a browser, with real P-256 keys and
// signatures, real clientDataJSON and authenticatorData (WebAuthn Level 3
// §5.8.1, §6.1), "none" attestation (§8.7) and a COSE EC2 public key
// (§6.5.1.1).
//
// It is deliberately a dishonest client when asked: the origin, the UV flag
// and the signature counter can be set to what a browser would never send,
// and GetWithCredential ignores allowCredentials, so that tests can prove
// the server refuses such responses. It does not check the RP ID against the
// origin as a browser does (§5.1.3) for the same reason.
//
// It imports nothing from eidp: any WebAuthn server can be driven by it.
package passkeytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/uuid"
)

// DefaultAAGUID is the AAGUID an Authenticator reports unless told
// otherwise: a fixed, made-up model.
var DefaultAAGUID = uuid.MustParse("6e1a4d0f-6b0e-4a53-9c1d-2f3e4d5c6b7a")

// Errors an Authenticator returns, as a browser would reject the call.
var (
	// ErrBadOptions: the options JSON is not what the ceremony needs.
	ErrBadOptions = errors.New("passkeytest: bad options")
	// ErrUnsupportedAlgorithm: pubKeyCredParams does not offer ES256 (-7),
	// the only algorithm this authenticator has (NotSupportedError).
	ErrUnsupportedAlgorithm = errors.New("passkeytest: ES256 not offered")
	// ErrExcluded: the authenticator holds a credential listed in
	// excludeCredentials (InvalidStateError, §6.3.2).
	ErrExcluded = errors.New("passkeytest: authenticator already holds an excluded credential")
	// ErrNoCredential: no credential for this RP ID (and allow list).
	ErrNoCredential = errors.New("passkeytest: no matching credential")
)

// CounterMode says how the signature counter behaves (§6.1.1).
type CounterMode int

const (
	// CounterIncrement: 0 at creation, then one more at each assertion, per
	// credential (like most security keys).
	CounterIncrement CounterMode = iota
	// CounterZero: always 0 (like synced passkeys).
	CounterZero
)

// Option configures an Authenticator.
type Option func(*Authenticator)

// WithBackupEligible makes credentials backup eligible (BE flag; a synced
// passkey), currently backed up or not (BS flag) (§6.1.3).
func WithBackupEligible(backedUp bool) Option {
	return func(a *Authenticator) { a.be, a.bs = true, backedUp }
}

// WithUserVerification sets the UV flag in every response (default true).
func WithUserVerification(uv bool) Option {
	return func(a *Authenticator) { a.uv = uv }
}

// WithAAGUID sets the AAGUID reported at registration (default
// DefaultAAGUID).
func WithAAGUID(id uuid.UUID) Option {
	return func(a *Authenticator) { a.aaguid = id }
}

// WithZeroAAGUID reports the all-zero AAGUID, as many platform and synced
// passkeys do.
func WithZeroAAGUID() Option { return WithAAGUID(uuid.Nil) }

// WithCounter sets the counter behaviour (default CounterIncrement).
// SetCounter overrides it for one assertion.
func WithCounter(mode CounterMode) Option {
	return func(a *Authenticator) { a.counterMode = mode }
}

// Authenticator is a software authenticator with its client. It holds the
// credentials it created (discoverable, one P-256 key each). It is safe for
// concurrent use; give each concurrent user its own credential, or the
// counters of parallel assertions reach the server out of order.
type Authenticator struct {
	mu          sync.Mutex
	origin      string
	aaguid      uuid.UUID
	be, bs, uv  bool
	counterMode CounterMode
	creds       []*credential
	last        []byte
}

type credential struct {
	id         []byte
	rpID       string
	userHandle []byte
	key        *ecdsa.PrivateKey
	counter    uint32
	pinned     *uint32 // SetCounter: the next assertion's counter
}

// Credential describes a credential the Authenticator holds.
type Credential struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	SignCount  uint32 // the last counter sent
}

// NewAuthenticator returns an authenticator whose client runs at origin
// (e.g. "http://localhost:8080"): that origin goes into clientDataJSON.
func NewAuthenticator(origin string, opts ...Option) *Authenticator {
	a := &Authenticator{origin: origin, aaguid: DefaultAAGUID, uv: true}
	for _, o := range opts {
		o(a)
	}
	return a
}

// SetOrigin changes the origin put into clientDataJSON from now on (to test
// that a server refuses an assertion made for another site).
func (a *Authenticator) SetOrigin(origin string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.origin = origin
}

// SetUserVerified sets the UV flag of the responses from now on.
func (a *Authenticator) SetUserVerified(uv bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.uv = uv
}

// SetCounter makes the next assertion with credential credID carry counter
// n; a CounterIncrement authenticator counts on from n afterwards.
func (a *Authenticator) SetCounter(credID []byte, n uint32) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.find(credID)
	if c == nil {
		return ErrNoCredential
	}
	c.pinned = &n
	return nil
}

// LastResponse returns the last response Create or Get produced (to replay
// it).
func (a *Authenticator) LastResponse() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.last)
}

// Credentials lists the credentials held, oldest first.
func (a *Authenticator) Credentials() []Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Credential, len(a.creds))
	for i, c := range a.creds {
		out[i] = Credential{ID: slices.Clone(c.id), RPID: c.rpID, UserHandle: slices.Clone(c.userHandle), SignCount: c.counter}
	}
	return out
}

func (a *Authenticator) find(id []byte) *credential {
	for _, c := range a.creds {
		if bytes.Equal(c.id, id) {
			return c
		}
	}
	return nil
}

// Options JSON (§5.4, §5.5, in the JSON forms that parseCreationOptionsFromJSON
// and parseRequestOptionsFromJSON take): only the members the authenticator
// acts on.
type descriptorJSON struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type credParamJSON struct {
	Type string `json:"type"`
	Alg  int    `json:"alg"`
}

type creationOptionsJSON struct {
	RP struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	Challenge          string           `json:"challenge"`
	PubKeyCredParams   []credParamJSON  `json:"pubKeyCredParams"`
	ExcludeCredentials []descriptorJSON `json:"excludeCredentials"`
}

type requestOptionsJSON struct {
	Challenge        string           `json:"challenge"`
	RPID             string           `json:"rpId"`
	AllowCredentials []descriptorJSON `json:"allowCredentials"`
}

// decodeOptions reads either the bare options object or one wrapped as
// {"publicKey": {…}} (what navigator.credentials takes).
func decodeOptions(optionsJSON []byte, v any) error {
	var wrapped struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(optionsJSON, &wrapped); err != nil {
		return fmt.Errorf("%w: %v", ErrBadOptions, err)
	}
	if len(wrapped.PublicKey) > 0 {
		optionsJSON = wrapped.PublicKey
	}
	if err := json.Unmarshal(optionsJSON, v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadOptions, err)
	}
	return nil
}

// b64 decodes base64url with or without padding.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

var enc = base64.RawURLEncoding

// clientData is CollectedClientData (§5.8.1), members in the order browsers
// serialize them (§5.8.1.1).
type clientData struct {
	Type        string `json:"type"`
	Challenge   string `json:"challenge"`
	Origin      string `json:"origin"`
	CrossOrigin bool   `json:"crossOrigin"`
}

func (a *Authenticator) clientDataJSON(typ, challenge string) ([]byte, error) {
	raw, err := b64(challenge)
	if err != nil || len(raw) == 0 {
		return nil, fmt.Errorf("%w: challenge is not base64url", ErrBadOptions)
	}
	return json.Marshal(clientData{Type: typ, Challenge: enc.EncodeToString(raw), Origin: a.origin})
}

// rpIDFor is the options' RP ID or, as a browser defaults it, the origin's
// host.
func (a *Authenticator) rpIDFor(rpID string) (string, error) {
	if rpID != "" {
		return rpID, nil
	}
	u, err := url.Parse(a.origin)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("%w: no rp id and origin %q has no host", ErrBadOptions, a.origin)
	}
	return u.Hostname(), nil
}

// Authenticator data flags (§6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

func (a *Authenticator) flags() byte {
	f := byte(flagUP)
	if a.uv {
		f |= flagUV
	}
	if a.be {
		f |= flagBE
		if a.bs {
			f |= flagBS
		}
	}
	return f
}

// authData is authenticatorData (§6.1): rpIdHash, flags, signCount, then
// the attested credential data if any.
func authData(rpID string, flags byte, counter uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := make([]byte, 0, 37+len(attested))
	out = append(out, h[:]...)
	out = append(out, flags)
	out = binary.BigEndian.AppendUint32(out, counter)
	return append(out, attested...)
}

var ctap2, _ = cbor.CTAP2EncOptions().EncMode()

// coseKey is the credential public key as a COSE_Key (§6.5.1.1): kty EC2
// (2), alg ES256 (-7), crv P-256 (1), x, y — in CTAP2 canonical CBOR.
func coseKey(pub *ecdsa.PublicKey) ([]byte, error) {
	ecdhKey, err := pub.ECDH()
	if err != nil {
		return nil, err
	}
	point := ecdhKey.Bytes() // 0x04 || X || Y
	return ctap2.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: point[1:33], -3: point[33:65]})
}

// Create answers navigator.credentials.create() for the options JSON
// (PublicKeyCredentialCreationOptionsJSON, bare or under "publicKey") with a
// RegistrationResponseJSON (§5.1.3 for the client, §6.3.2 for the
// authenticator): a new discoverable P-256 credential, "none" attestation.
func (a *Authenticator) Create(optionsJSON []byte) ([]byte, error) {
	var opts creationOptionsJSON
	if err := decodeOptions(optionsJSON, &opts); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()

	rpID, err := a.rpIDFor(opts.RP.ID)
	if err != nil {
		return nil, err
	}
	userHandle, err := b64(opts.User.ID)
	if err != nil || len(userHandle) == 0 || len(userHandle) > 64 {
		return nil, fmt.Errorf("%w: user.id must be 1 to 64 bytes of base64url", ErrBadOptions)
	}
	if !slices.ContainsFunc(opts.PubKeyCredParams, func(p credParamJSON) bool { return p.Type == "public-key" && p.Alg == -7 }) {
		return nil, ErrUnsupportedAlgorithm
	}
	for _, d := range opts.ExcludeCredentials {
		id, err := b64(d.ID)
		if err != nil {
			return nil, fmt.Errorf("%w: excludeCredentials id", ErrBadOptions)
		}
		if c := a.find(id); c != nil && c.rpID == rpID {
			return nil, ErrExcluded
		}
	}
	cdj, err := a.clientDataJSON("webauthn.create", opts.Challenge)
	if err != nil {
		return nil, err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cred := &credential{id: make([]byte, 32), rpID: rpID, userHandle: userHandle, key: key}
	rand.Read(cred.id)
	pubCOSE, err := coseKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	// Attested credential data (§6.5.1): AAGUID, L, credentialId, key.
	attested := slices.Concat(a.aaguid[:], binary.BigEndian.AppendUint16(nil, uint16(len(cred.id))), cred.id, pubCOSE)
	ad := authData(rpID, a.flags()|flagAT, 0, attested)
	attObj, err := ctap2.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	// A new credential replaces one for the same RP and user, as
	// authenticators do with discoverable credentials (§6.3.2).
	a.creds = slices.DeleteFunc(a.creds, func(c *credential) bool {
		return c.rpID == rpID && bytes.Equal(c.userHandle, userHandle)
	})
	a.creds = append(a.creds, cred)

	// RegistrationResponseJSON (§5.1, toJSON()).
	resp, err := json.Marshal(map[string]any{
		"id":                      enc.EncodeToString(cred.id),
		"rawId":                   enc.EncodeToString(cred.id),
		"type":                    "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
		"response": map[string]any{
			"clientDataJSON":     enc.EncodeToString(cdj),
			"authenticatorData":  enc.EncodeToString(ad),
			"transports":         []string{"hybrid", "internal"},
			"publicKey":          enc.EncodeToString(spki),
			"publicKeyAlgorithm": -7,
			"attestationObject":  enc.EncodeToString(attObj),
		},
	})
	if err != nil {
		return nil, err
	}
	a.last = resp
	return slices.Clone(resp), nil
}

// Get answers navigator.credentials.get() for the options JSON
// (PublicKeyCredentialRequestOptionsJSON, bare or under "publicKey") with
// an AuthenticationResponseJSON (§5.1.4 for the client, §6.3.3 for the
// authenticator). With an empty allowCredentials it uses the newest
// credential it holds for the RP ID (a discoverable login); otherwise the
// first listed one it holds. userHandle is always set.
func (a *Authenticator) Get(optionsJSON []byte) ([]byte, error) {
	return a.get(optionsJSON, nil)
}

// GetWithCredential is Get with credential credID, whatever the options
// allow: the response a server must refuse when credID is not allowed.
func (a *Authenticator) GetWithCredential(optionsJSON []byte, credID []byte) ([]byte, error) {
	if credID == nil {
		credID = []byte{}
	}
	return a.get(optionsJSON, credID)
}

func (a *Authenticator) get(optionsJSON []byte, force []byte) ([]byte, error) {
	var opts requestOptionsJSON
	if err := decodeOptions(optionsJSON, &opts); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()

	rpID, err := a.rpIDFor(opts.RPID)
	if err != nil {
		return nil, err
	}
	var cred *credential
	switch {
	case force != nil:
		cred = a.find(force)
	case len(opts.AllowCredentials) == 0:
		for _, c := range slices.Backward(a.creds) {
			if c.rpID == rpID {
				cred = c
				break
			}
		}
	default:
		for _, d := range opts.AllowCredentials {
			id, err := b64(d.ID)
			if err != nil {
				return nil, fmt.Errorf("%w: allowCredentials id", ErrBadOptions)
			}
			if c := a.find(id); c != nil && c.rpID == rpID {
				cred = c
				break
			}
		}
	}
	if cred == nil {
		return nil, ErrNoCredential
	}
	cdj, err := a.clientDataJSON("webauthn.get", opts.Challenge)
	if err != nil {
		return nil, err
	}

	switch {
	case cred.pinned != nil:
		cred.counter, cred.pinned = *cred.pinned, nil
	case a.counterMode == CounterIncrement:
		cred.counter++
	default:
		cred.counter = 0
	}
	ad := authData(rpID, a.flags(), cred.counter, nil)
	// §6.3.3: the signature is over authenticatorData ||
	// SHA-256(clientDataJSON), ASN.1 DER for ECDSA (§6.5.5).
	cdHash := sha256.Sum256(cdj)
	digest := sha256.Sum256(slices.Concat(ad, cdHash[:]))
	sig, err := ecdsa.SignASN1(rand.Reader, cred.key, digest[:])
	if err != nil {
		return nil, err
	}

	// AuthenticationResponseJSON (§5.1, toJSON()).
	resp, err := json.Marshal(map[string]any{
		"id":                      enc.EncodeToString(cred.id),
		"rawId":                   enc.EncodeToString(cred.id),
		"type":                    "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    enc.EncodeToString(cdj),
			"authenticatorData": enc.EncodeToString(ad),
			"signature":         enc.EncodeToString(sig),
			"userHandle":        enc.EncodeToString(cred.userHandle),
		},
	})
	if err != nil {
		return nil, err
	}
	a.last = resp
	return slices.Clone(resp), nil
}
