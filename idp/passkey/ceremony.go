package passkey

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"eidp/internal/db"
)

// Ceremony names, stored in webauthn_challenges.purpose: a challenge begun
// for one ceremony cannot finish another.
const (
	purposeRegister = "register"
	purposeLogin    = "login"
	purposeReauth   = "reauth"
	purposeBound    = "bound"
)

const (
	// MaxCredentials is how many passkeys (blocked ones included) a resident
	// may hold; it bounds excludeCredentials and allowCredentials.
	MaxCredentials = 20
	// maxResponseBytes bounds a response from the browser. A "none"
	// registration is under 1 KiB; attestation certificate chains stay well
	// under this.
	maxResponseBytes = 64 << 10
	// maxFlowIDBytes bounds the flow value (the web layer's is 43 bytes).
	maxFlowIDBytes = 256
	// maxChallengeChars bounds the challenge taken from a response before it
	// reaches the database (ours are 43 base64url characters).
	maxChallengeChars = 128
	// sweepEvery is how often (at most, per Service) a Begin call deletes
	// expired challenges.
	sweepEvery = time.Minute
)

// knownTransports are the AuthenticatorTransport values (§5.8.4) kept from
// a registration response; anything else the client sends is dropped.
var knownTransports = []string{"usb", "nfc", "ble", "smart-card", "hybrid", "internal"}

// waUser adapts a resident to go-webauthn's User.
type waUser struct {
	id          string
	name        string
	displayName string
	creds       []webauthn.Credential
}

func (u waUser) WebAuthnID() []byte                         { return []byte(u.id) }
func (u waUser) WebAuthnName() string                       { return u.name }
func (u waUser) WebAuthnDisplayName() string                { return u.displayName }
func (u waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// webauthnCredential is c as go-webauthn verifies assertions against it.
func (c Credential) webauthnCredential() webauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID:                c.ID,
		PublicKey:         c.PublicKey,
		AttestationFormat: c.AttestationFormat,
		Transport:         transports,
		// UV was required when the credential was made; BE never changes
		// and go-webauthn checks that it did not (§6.1.3).
		Flags: webauthn.CredentialFlags{
			UserPresent:    true,
			UserVerified:   true,
			BackupEligible: c.BackupEligible,
			BackupState:    c.BackupState,
		},
		Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID[:], SignCount: c.SignCount},
	}
}

func webauthnCredentials(creds []Credential) []webauthn.Credential {
	out := make([]webauthn.Credential, len(creds))
	for i, c := range creds {
		out[i] = c.webauthnCredential()
	}
	return out
}

func unblocked(creds []Credential) []Credential {
	return slices.DeleteFunc(slices.Clone(creds), Credential.Blocked)
}

// flowHash is what webauthn_challenges.flow_id holds: the SHA-256 of the
// browser's flow value, never the value itself.
func flowHash(flowID string) string {
	h := sha256.Sum256([]byte(flowID))
	return hex.EncodeToString(h[:])
}

func checkFlowID(flowID string) error {
	if flowID == "" || len(flowID) > maxFlowIDBytes {
		return fmt.Errorf("passkey: flow ID must be 1 to %d bytes (a random value from the flow cookie)", maxFlowIDBytes)
	}
	return nil
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// saveChallenge stores go-webauthn's session data for a ceremony just begun,
// keyed by its challenge. The challenge is no secret (the page receives it)
// but it is random and unique, and a response carries it in clientDataJSON,
// which is how Finish finds its row.
func (s *Service) saveChallenge(ctx context.Context, session *webauthn.SessionData, flowID, purpose, residentID string) error {
	data, err := json.Marshal(session)
	if err != nil {
		return fmt.Errorf("passkey: encode session: %w", err)
	}
	now := s.clock()
	s.maybeSweep(ctx, now)
	return insertChallenge(ctx, s.db, session.Challenge, flowHash(flowID), purpose, residentID, string(data), now.Add(s.cfg.ChallengeTTL))
}

// maybeSweep deletes expired challenges, at most once per sweepEvery per
// Service. Best effort: a failed sweep leaves the rows to the next one, and
// Finish never accepts an expired row anyway.
func (s *Service) maybeSweep(ctx context.Context, now time.Time) {
	last := s.swept.Load()
	if now.UnixMicro()-last < sweepEvery.Microseconds() || !s.swept.CompareAndSwap(last, now.UnixMicro()) {
		return
	}
	_ = sweepChallenges(ctx, s.db, now)
}

// pendingCeremony is the challenge a response answers, found but not yet
// consumed.
type pendingCeremony struct {
	id, flowHash, purpose string
	session               *webauthn.SessionData
}

// findCeremony looks up the challenge that a response claims to answer, if
// this flow began it for this ceremony (and resident), and returns its
// session data.
//
// A challenge is used once whatever the outcome (§13.4.3): a Finish call
// that succeeds deletes it in the transaction that records the ceremony
// (consume), so that of two concurrent uses only one commits; one that fails
// deletes it on the way out (discardOnError). Either way a replayed
// response finds nothing. Deleting in the recording transaction rather than
// up front saves a commit per ceremony.
func (s *Service) findCeremony(ctx context.Context, challenge, flowID, purpose, residentID string) (*pendingCeremony, error) {
	if checkFlowID(flowID) != nil {
		return nil, fail(ErrChallenge, nil, "no or oversized flow ID")
	}
	if challenge == "" || len(challenge) > maxChallengeChars {
		return nil, fail(ErrChallenge, nil, "the response carries no usable challenge")
	}
	p := &pendingCeremony{id: challenge, flowHash: flowHash(flowID), purpose: purpose}
	row, err := getChallenge(ctx, s.db, p.id, p.flowHash, p.purpose)
	switch {
	case isNoRows(err):
		return nil, fail(ErrChallenge, nil, "no "+purpose+" challenge like this for this flow: never issued, already used, or begun in another flow")
	case err != nil:
		return nil, fmt.Errorf("passkey: load challenge: %w", err)
	}
	if !s.clock().Before(row.expires) {
		s.discard(ctx, p)
		return nil, fail(ErrChallenge, nil, fmt.Sprintf("challenge expired at %s", row.expires.Format(time.RFC3339)))
	}
	if row.residentID != residentID {
		s.discard(ctx, p)
		return nil, fail(ErrChallenge, nil, "challenge issued for another resident")
	}
	var session webauthn.SessionData
	if err := json.Unmarshal([]byte(row.data), &session); err != nil {
		return nil, fmt.Errorf("passkey: stored session data: %w", err)
	}
	// User verification is required for every ceremony, but checked by this
	// package after go-webauthn has verified everything else (see
	// requireUV), so that ErrUserVerification means "genuine response,
	// resident not verified" and not "forged response without UV".
	session.UserVerification = protocol.VerificationPreferred
	p.session = &session
	return p, nil
}

// consume deletes the challenge in tx, the transaction that records the
// ceremony's outcome. If another call consumed it first, it returns an
// ErrChallenge error and tx must record nothing.
func (p *pendingCeremony) consume(ctx context.Context, tx *sql.Tx) error {
	ok, err := deleteChallenge(ctx, tx, p.id, p.flowHash, p.purpose)
	switch {
	case err != nil:
		return fmt.Errorf("passkey: consume challenge: %w", err)
	case !ok:
		return fail(ErrChallenge, nil, "challenge used by a concurrent call")
	}
	return nil
}

// discard deletes the challenge of a failed ceremony. Best effort: if it
// fails, the row still expires, and a later success would need a valid
// response to the same challenge, which only the failed caller had.
func (s *Service) discard(ctx context.Context, p *pendingCeremony) {
	_, _ = deleteChallenge(context.WithoutCancel(ctx), s.db, p.id, p.flowHash, p.purpose)
}

// discardOnError discards p if the Finish call returning *errp failed.
func (s *Service) discardOnError(ctx context.Context, p *pendingCeremony, errp *error) {
	if *errp != nil {
		s.discard(ctx, p)
	}
}

// requireUV enforces user verification (§5.8.6 "required"; §7.1 and §7.2:
// verify that the UV bit of the flags in authData is set). Called only after
// the response has otherwise verified.
func requireUV(flags protocol.AuthenticatorFlags) error {
	if !flags.HasUserVerified() {
		return fail(ErrUserVerification, nil, "the UV flag is not set in authenticatorData")
	}
	return nil
}

// verificationFailed wraps go-webauthn's verdict.
func verificationFailed(err error) error {
	return fail(ErrVerification, err, "")
}

// checkPolicy applies Policy to an authenticator model and its backup
// eligibility, at registration and at each assertion.
func (s *Service) checkPolicy(aaguid uuid.UUID, backupEligible bool) error {
	p := s.cfg.Policy
	reason := ""
	switch {
	case aaguid == uuid.Nil && p.DenyZeroAAGUID:
		reason = ReasonZeroAAGUID
	case aaguid != uuid.Nil && slices.Contains(p.AAGUIDDeny, aaguid):
		reason = ReasonAAGUIDDenied
	case aaguid != uuid.Nil && len(p.AAGUIDAllow) > 0 && !slices.Contains(p.AAGUIDAllow, aaguid):
		reason = ReasonAAGUIDNotAllowed
	case backupEligible && p.DenyBackupEligible:
		reason = ReasonBackupEligible
	default:
		return nil
	}
	return &PolicyError{Reason: reason, AAGUID: aaguid}
}

func parseRegistration(response []byte) (*protocol.ParsedCredentialCreationData, error) {
	if len(response) > maxResponseBytes {
		return nil, fail(ErrVerification, nil, fmt.Sprintf("response of %d bytes, more than %d", len(response), maxResponseBytes))
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, verificationFailed(err)
	}
	return parsed, nil
}

func parseAssertion(response []byte) (*protocol.ParsedCredentialAssertionData, error) {
	if len(response) > maxResponseBytes {
		return nil, fail(ErrVerification, nil, fmt.Sprintf("response of %d bytes, more than %d", len(response), maxResponseBytes))
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, verificationFailed(err)
	}
	return parsed, nil
}

// BeginRegistration starts creating a passkey for u (WebAuthn L3 §5.1.3,
// §5.4) and returns the PublicKeyCredentialCreationOptionsJSON — the bare
// options object, for PublicKeyCredential.parseCreationOptionsFromJSON:
//
//	{"rp":{"name":…,"id":…},"user":{"name":…,"displayName":…,"id":base64url(ResidentID)},
//	 "challenge":…,"pubKeyCredParams":[{"type":"public-key","alg":-7},{…,"alg":-8},{…,"alg":-257}],
//	 "timeout":ms,"excludeCredentials":[{"type":"public-key","id":…,"transports":[…]}],
//	 "authenticatorSelection":{"requireResidentKey":true,"residentKey":"required","userVerification":"required"},
//	 "attestation":"none"}
//
// excludeCredentials (omitted when empty) lists the resident's unblocked
// credentials, so that an authenticator already holding one refuses to make
// a second; a blocked credential does not stand in the way of a fresh one.
// authenticatorAttachment is left unset: phones (hybrid), platform
// authenticators and security keys are all welcome. flowID is the browser
// flow the ceremony is bound to.
func (s *Service) BeginRegistration(ctx context.Context, u User, flowID string) (json.RawMessage, error) {
	if err := checkFlowID(flowID); err != nil {
		return nil, err
	}
	if u.ResidentID == "" || len(u.ResidentID) > protocol.MaximumUserHandleLength {
		return nil, fmt.Errorf("passkey: resident ID must be 1 to %d bytes", protocol.MaximumUserHandleLength)
	}
	if u.Name == "" {
		return nil, errors.New("passkey: User.Name is empty")
	}
	if u.DisplayName == "" {
		u.DisplayName = u.Name
	}
	creds, err := listCredentials(ctx, s.db, u.ResidentID)
	if err != nil {
		return nil, err
	}
	if len(creds) >= MaxCredentials {
		return nil, &PolicyError{Reason: ReasonTooManyCredentials}
	}
	exclude := webauthn.Credentials(webauthnCredentials(unblocked(creds))).CredentialDescriptors()
	creation, session, err := s.wa.BeginRegistration(
		waUser{id: u.ResidentID, name: u.Name, displayName: u.DisplayName},
		webauthn.WithExclusions(exclude),
		webauthn.WithCredentialParameters(s.params),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
	)
	if err != nil {
		return nil, fmt.Errorf("passkey: begin registration: %w", err)
	}
	options, err := json.Marshal(creation.Response)
	if err != nil {
		return nil, fmt.Errorf("passkey: encode options: %w", err)
	}
	if err := s.saveChallenge(ctx, session, flowID, purposeRegister, u.ResidentID); err != nil {
		return nil, err
	}
	return options, nil
}

// FinishRegistration verifies a RegistrationResponseJSON (what
// credential.toJSON() returns after navigator.credentials.create) for the
// ceremony residentID began in flowID (§7.1, Registering a New Credential),
// applies Policy, and stores the credential with nickname (trimmed; may be
// empty).
//
// Errors: ErrInvalidNickname (checked first; the ceremony is not consumed),
// ErrChallenge, ErrVerification, ErrUserVerification, ErrPolicy
// (*PolicyError).
func (s *Service) FinishRegistration(ctx context.Context, residentID, flowID string, response []byte, nickname string) (_ Credential, err error) {
	nickname, err = cleanNickname(nickname)
	if err != nil {
		return Credential{}, err
	}
	parsed, err := parseRegistration(response)
	if err != nil {
		return Credential{}, err
	}
	p, err := s.findCeremony(ctx, parsed.Response.CollectedClientData.Challenge, flowID, purposeRegister, residentID)
	if err != nil {
		return Credential{}, err
	}
	defer s.discardOnError(ctx, p, &err)
	// §7.1: client data (type, challenge, origin, crossOrigin), rpIdHash,
	// UP, algorithm among pubKeyCredParams, attestation statement, BE/BS.
	created, err := s.wa.CreateCredential(waUser{id: residentID}, *p.session, parsed)
	if err != nil {
		return Credential{}, verificationFailed(err)
	}
	flags := parsed.Response.AttestationObject.AuthData.Flags
	if err := requireUV(flags); err != nil {
		return Credential{}, err
	}
	aaguid, err := uuid.FromBytes(created.Authenticator.AAGUID)
	if err != nil {
		return Credential{}, fail(ErrVerification, err, "AAGUID is not 16 bytes")
	}
	if err := s.checkPolicy(aaguid, flags.HasBackupEligible()); err != nil {
		return Credential{}, err
	}
	var transports []string
	for _, t := range created.Transport {
		if slices.Contains(knownTransports, string(t)) && !slices.Contains(transports, string(t)) {
			transports = append(transports, string(t))
		}
	}
	cred := Credential{
		ID:                created.ID,
		ResidentID:        residentID,
		PublicKey:         created.PublicKey,
		AAGUID:            aaguid,
		AttestationFormat: created.AttestationFormat,
		SignCount:         created.Authenticator.SignCount,
		BackupEligible:    flags.HasBackupEligible(),
		BackupState:       flags.HasBackupState(),
		Transports:        transports,
		Nickname:          nickname,
		CreatedAt:         s.clock(),
	}
	var outcome error
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		outcome = nil
		if outcome = p.consume(ctx, tx); outcome != nil {
			if !errors.Is(outcome, ErrChallenge) {
				return outcome
			}
			return nil
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM passkey_credentials WHERE resident_id = $1`, residentID).Scan(&n); err != nil {
			return err
		}
		if n >= MaxCredentials {
			outcome = &PolicyError{Reason: ReasonTooManyCredentials, AAGUID: aaguid}
			return nil
		}
		return insertCredential(ctx, tx, cred)
	})
	switch {
	case db.IsUniqueViolation(err):
		// §7.1: "Verify that the credentialId is not yet registered for
		// any user."
		return Credential{}, fail(ErrVerification, nil, "credential ID already registered")
	case err != nil:
		return Credential{}, fmt.Errorf("passkey: store credential: %w", err)
	case outcome != nil:
		return Credential{}, outcome
	}
	return cred, nil
}

// BeginLogin starts a discoverable ("usernameless") login (§5.5, §7.2) and
// returns the PublicKeyCredentialRequestOptionsJSON — the bare options
// object, for PublicKeyCredential.parseRequestOptionsFromJSON:
//
//	{"challenge":…,"timeout":ms,"rpId":…,"userVerification":"required"}
//
// allowCredentials is absent, so the browser offers every passkey it has
// for the RP ID; the same options serve a modal get() and conditional
// mediation (mediation: "conditional" with autocomplete="username
// webauthn"), which the page chooses.
func (s *Service) BeginLogin(ctx context.Context, flowID string) (json.RawMessage, error) {
	if err := checkFlowID(flowID); err != nil {
		return nil, err
	}
	assertion, session, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("passkey: begin login: %w", err)
	}
	return s.finishBegin(ctx, assertion, session, flowID, purposeLogin, "")
}

func (s *Service) finishBegin(ctx context.Context, assertion *protocol.CredentialAssertion, session *webauthn.SessionData, flowID, purpose, residentID string) (json.RawMessage, error) {
	options, err := json.Marshal(assertion.Response)
	if err != nil {
		return nil, fmt.Errorf("passkey: encode options: %w", err)
	}
	if err := s.saveChallenge(ctx, session, flowID, purpose, residentID); err != nil {
		return nil, err
	}
	return options, nil
}

// FinishLogin verifies an AuthenticationResponseJSON for the login begun in
// flowID (§7.2, Verifying an Authentication Assertion) and returns the
// credential used, updated; its ResidentID is who logged in.
//
// The credential is found by the response's ID, and the user handle the
// authenticator returned must be its resident's ID. Then, in order: client
// data, rpIdHash, UP, signature and flags (go-webauthn), UV, Policy, and the
// signature counter (see Policy.OnSignCountRegression).
//
// Errors: ErrChallenge, ErrVerification, ErrUnknownCredential (no such
// credential, e.g. removed), ErrUserVerification, ErrPolicy,
// ErrCredentialBlocked. With ErrCredentialBlocked the returned Credential
// is the blocked one (its ResidentID and BlockedReason), for the account's
// activity log; with any other error it is the zero Credential.
func (s *Service) FinishLogin(ctx context.Context, flowID string, response []byte) (_ Credential, err error) {
	parsed, err := parseAssertion(response)
	if err != nil {
		return Credential{}, err
	}
	p, err := s.findCeremony(ctx, parsed.Response.CollectedClientData.Challenge, flowID, purposeLogin, "")
	if err != nil {
		return Credential{}, err
	}
	defer s.discardOnError(ctx, p, &err)
	cred, err := s.findCredential(ctx, parsed.RawID)
	if err != nil {
		return Credential{}, err
	}
	// §7.2: identify the user; for a discoverable login the user handle
	// must be present and be the owner of the credential.
	handle := parsed.Response.UserHandle
	if len(handle) == 0 {
		return Credential{}, fail(ErrVerification, nil, "no user handle in a discoverable login")
	}
	if string(handle) != cred.ResidentID {
		return Credential{}, fail(ErrVerification, nil, "the user handle is not the credential's resident")
	}
	owner := waUser{id: cred.ResidentID, creds: []webauthn.Credential{cred.webauthnCredential()}}
	_, _, err = s.wa.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return owner, nil }, *p.session, parsed)
	if err != nil {
		return Credential{}, verificationFailed(err)
	}
	return s.completeAssertion(ctx, p, cred, parsed)
}

// BeginReauth asks the logged-in resident for a fresh, user-verified
// assertion — before adding a device, for instance — and returns the bare
// PublicKeyCredentialRequestOptionsJSON:
//
//	{"challenge":…,"timeout":ms,"rpId":…,"allowCredentials":[{"type":"public-key","id":…,"transports":[…]}],"userVerification":"required"}
//
// allowCredentials lists the resident's unblocked credentials (§5.5). If
// there are none, the error is ErrNotFound.
func (s *Service) BeginReauth(ctx context.Context, residentID, flowID string) (json.RawMessage, error) {
	return s.beginOwn(ctx, residentID, flowID, purposeReauth)
}

// beginOwn begins an assertion by one of residentID's own unblocked
// credentials, for purpose, with extra login options.
func (s *Service) beginOwn(ctx context.Context, residentID, flowID, purpose string, opts ...webauthn.LoginOption) (json.RawMessage, error) {
	if err := checkFlowID(flowID); err != nil {
		return nil, err
	}
	creds, err := listCredentials(ctx, s.db, residentID)
	if err != nil {
		return nil, err
	}
	usable := unblocked(creds)
	if len(usable) == 0 {
		return nil, fmt.Errorf("%w: resident has no usable passkey", ErrNotFound)
	}
	opts = append([]webauthn.LoginOption{webauthn.WithUserVerification(protocol.VerificationRequired)}, opts...)
	assertion, session, err := s.wa.BeginLogin(waUser{id: residentID, creds: webauthnCredentials(usable)}, opts...)
	if err != nil {
		return nil, fmt.Errorf("passkey: begin %s assertion: %w", purpose, err)
	}
	return s.finishBegin(ctx, assertion, session, flowID, purpose, residentID)
}

// FinishReauth verifies the assertion for BeginReauth (§7.2): the
// challenge must have been issued to residentID in flowID, and the
// credential must be one of those it allowed, hence residentID's own. The
// checks and errors are FinishLogin's; a credential of another resident is
// ErrVerification.
func (s *Service) FinishReauth(ctx context.Context, residentID, flowID string, response []byte) (_ Credential, err error) {
	parsed, err := parseAssertion(response)
	if err != nil {
		return Credential{}, err
	}
	return s.finishOwn(ctx, residentID, flowID, purposeReauth, parsed)
}

// finishOwn verifies an assertion begun by beginOwn.
func (s *Service) finishOwn(ctx context.Context, residentID, flowID, purpose string, parsed *protocol.ParsedCredentialAssertionData) (_ Credential, err error) {
	p, err := s.findCeremony(ctx, parsed.Response.CollectedClientData.Challenge, flowID, purpose, residentID)
	if err != nil {
		return Credential{}, err
	}
	defer s.discardOnError(ctx, p, &err)
	cred, err := s.findCredential(ctx, parsed.RawID)
	if err != nil {
		return Credential{}, err
	}
	if cred.ResidentID != residentID {
		return Credential{}, fail(ErrVerification, nil, "the credential belongs to another resident")
	}
	// go-webauthn checks that the credential was in allowCredentials and
	// that the user handle, if any, is residentID (§7.2); it wants every
	// allowed credential among the user's.
	creds, err := listCredentials(ctx, s.db, residentID)
	if err != nil {
		return Credential{}, err
	}
	if _, err := s.wa.ValidateLogin(waUser{id: residentID, creds: webauthnCredentials(creds)}, *p.session, parsed); err != nil {
		return Credential{}, verificationFailed(err)
	}
	return s.completeAssertion(ctx, p, cred, parsed)
}

// findCredential returns the stored credential with this ID, or
// ErrUnknownCredential.
func (s *Service) findCredential(ctx context.Context, id []byte) (Credential, error) {
	cred, err := getCredential(ctx, s.db, id)
	switch {
	case isNoRows(err):
		return Credential{}, fail(ErrUnknownCredential, nil, "no stored credential with this ID")
	case err != nil:
		return Credential{}, fmt.Errorf("passkey: load credential: %w", err)
	}
	return cred, nil
}

// completeAssertion finishes an assertion that go-webauthn verified: user
// verification, Policy, then the stored credential record is updated
// (§7.2, last steps: signCount, backup state, and this package's
// last_used_at) in one transaction that re-reads it, so that concurrent
// assertions compare their counters against each other's updates.
func (s *Service) completeAssertion(ctx context.Context, p *pendingCeremony, cred Credential, parsed *protocol.ParsedCredentialAssertionData) (Credential, error) {
	authData := parsed.Response.AuthenticatorData
	if err := requireUV(authData.Flags); err != nil {
		return Credential{}, err
	}
	if err := s.checkPolicy(cred.AAGUID, cred.BackupEligible); err != nil {
		return Credential{}, err
	}
	var (
		now     = s.clock()
		counter = authData.Counter
		bs      = authData.Flags.HasBackupState()
		out     Credential
		outcome error // the ceremony's verdict, decided inside the transaction
	)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		out, outcome = Credential{}, nil
		if outcome = p.consume(ctx, tx); outcome != nil {
			if !errors.Is(outcome, ErrChallenge) {
				return outcome
			}
			return nil
		}
		cur, err := getCredential(ctx, tx, cred.ID)
		if isNoRows(err) {
			outcome = fail(ErrUnknownCredential, nil, "credential removed during the ceremony")
			return nil
		}
		if err != nil {
			return err
		}
		if cur.Blocked() {
			out = cur
			outcome = fail(ErrCredentialBlocked, nil, "blocked at "+cur.BlockedAt.Format(time.RFC3339)+": "+cur.BlockedReason)
			return nil
		}
		// §6.1.1, §7.2: if either counter is non-zero, the new one must be
		// greater than the stored one; otherwise the authenticator may have
		// been cloned. Counters that both stay 0 (synced passkeys) are fine.
		regressed := (counter != 0 || cur.SignCount != 0) && counter <= cur.SignCount
		id := cur.IDString()
		switch {
		case regressed && s.cfg.Policy.OnSignCountRegression == RegressionBlock:
			// Committed although the ceremony fails: the block must stick.
			_, err = tx.ExecContext(ctx, `UPDATE passkey_credentials
				SET blocked_at = $2, blocked_reason = $3, sign_count_regressed_at = $2 WHERE id = $1`,
				id, db.Timestamp{Time: now}, BlockedSignCountRegression)
			cur.BlockedAt, cur.BlockedReason, cur.SignCountRegressedAt = now, BlockedSignCountRegression, now
			out = cur
			outcome = fail(ErrCredentialBlocked, ErrSignCountRegressed, fmt.Sprintf("signature counter %d after %d: blocked as a possible clone", counter, cur.SignCount))
		case regressed:
			// RegressionFlag: record it, keep the highest counter seen.
			_, err = tx.ExecContext(ctx, `UPDATE passkey_credentials
				SET sign_count_regressed_at = $2, last_used_at = $2, backup_state = $3 WHERE id = $1`,
				id, db.Timestamp{Time: now}, bs)
			cur.SignCountRegressedAt, cur.LastUsedAt, cur.BackupState = now, now, bs
			out = cur
		default:
			_, err = tx.ExecContext(ctx, `UPDATE passkey_credentials
				SET sign_count = $2, last_used_at = $3, backup_state = $4 WHERE id = $1`,
				id, int64(counter), db.Timestamp{Time: now}, bs)
			cur.SignCount, cur.LastUsedAt, cur.BackupState = counter, now, bs
			out = cur
		}
		return err
	})
	if err != nil {
		return Credential{}, fmt.Errorf("passkey: update credential: %w", err)
	}
	if outcome != nil {
		if errors.Is(outcome, ErrCredentialBlocked) {
			return out, outcome
		}
		return Credential{}, outcome
	}
	return out, nil
}
