package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"eidp/idp/account"
	"eidp/idp/passkey"
	"eidp/idp/session"
	"eidp/internal/db"
	"eidp/signing/activation"
	"eidp/signing/ca"
)

// Remote signing, the resident's side: the approval page a service sends
// the resident to (GET /sign?id=…), the passkey ceremony that approves a
// request (POST /api/sign/options, /api/sign/approve), declining
// (POST /sign/deny), and the signing page of the account (GET
// /account/signing): the certificate, getting one after a fresh passkey
// check (POST /api/sign/enrol/options, /api/sign/enrol), revoking it
// (POST /account/signing/revoke), pending requests and the signatures made.
//
// Approval is a user-verified passkey assertion whose challenge is
// activation.Challenge(request): the authenticator signs a commitment to
// exactly the digests shown (see signing/activation). The page also shows
// the verification code that the service shows, so that the resident can
// tell that this request is the one they started.

// signingEnabled reports whether the signing pages exist.
func (s *Server) signingEnabled() bool { return s.Activations != nil && s.CA != nil }

// signingFuncs are template functions of the signing pages, bound once in
// New: "signing" tells the account page whether to link them.
func (s *Server) signingFuncs() template.FuncMap {
	return template.FuncMap{"signing": s.signingEnabled}
}

// maxSignRequestID bounds a request ID from a URL or a form (activation's
// are 22 characters; the store refuses more than 64).
const maxSignRequestID = 64

// signRequestID reads a request ID, or "" if it cannot be one.
func signRequestID(v string) string {
	if v == "" || len(v) > maxSignRequestID || !printableASCII(v) {
		return ""
	}
	return v
}

// signNext accepts where to go after answering a request only if it is
// the OpenID Provider resuming a service's authorization request
// (scope=credential): a path on this site beginning "/authorize/resume?",
// with authorizePath's checks. Anything else is ignored, so the approval
// page is no open redirector (RFC 9700 §4.11).
func signNext(p string) (string, bool) {
	next, ok := authorizePath(p)
	if !ok || !strings.HasPrefix(next, "/authorize/resume?") {
		return "", false
	}
	return next, true
}

// signPagePath is the approval page's own address.
func signPagePath(id, next string) string {
	v := url.Values{"id": {id}}
	if next != "" {
		v.Set("next", next)
	}
	return "/sign?" + v.Encode()
}

// signLogin is where a browser without a session logs in: through the
// provider's resume path when the request came that way (it sends the
// resident back here), else the login page asked to come back here.
func signLogin(id, next string) string {
	back := next
	if back == "" {
		back = signPagePath(id, "")
	}
	return "/login?" + url.Values{"next": {back}}.Encode()
}

// Request states as the approval page explains them.
const (
	signPending  = "pending"
	signApproved = "approved" // approved, or approved and used
	signDeclined = "declined"
	signExpired  = "expired"
	signUnusable = "unusable" // the certificate is revoked, expired or gone
)

// documentView is one document of a request.
type documentView struct {
	Label     string
	Algorithm string // "SHA-256"
	Short     string // the first 16 hex digits
	Hex       string // all of them
}

// certView is a certificate as the resident reads it.
type certView struct {
	ID        string
	Subject   string // the subject's common name
	Serial    string // hex, in colon-separated pairs
	NotBefore time.Time
	NotAfter  time.Time
	Status    string // ca.StatusValid, ca.StatusRevoked, ca.StatusExpired
	RevokedAt time.Time
	Reason    string // message key of the revocation reason ("" if not revoked)
}

// signView is the approval page's data.
type signView struct {
	ID          string
	Next        string // validated return path ("" if none)
	Service     string
	Description string
	Documents   []documentView
	Code        string
	Cert        *certView // nil if the certificate is gone
	ExpiresAt   time.Time
	State       string
}

func viewCertificate(c ca.Certificate) certView {
	v := certView{ID: c.ID, Status: c.Status, NotBefore: c.Cert.NotBefore, NotAfter: c.Cert.NotAfter,
		Subject: c.Cert.Subject.CommonName, RevokedAt: c.RevokedAt}
	if c.Serial != nil {
		v.Serial = hexPairs(c.Serial.Bytes())
	}
	if c.Status == ca.StatusRevoked {
		switch c.Reason {
		case ca.ReasonKeyCompromise:
			v.Reason = "sign_account.reason_lost"
		case ca.ReasonCessationOfOperation:
			v.Reason = "sign_account.reason_unneeded"
		case ca.ReasonSuperseded:
			v.Reason = "sign_account.reason_superseded"
		default:
			v.Reason = "sign_account.reason_other"
		}
	}
	return v
}

// hexPairs writes bytes as "7A:3F:…", the way certificate viewers show
// serial numbers.
func hexPairs(b []byte) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	var out strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			out.WriteByte(':')
		}
		out.WriteString(h[i : i+2])
	}
	return out.String()
}

// signRequest returns the resident's request id: another resident's is
// activation.ErrNotFound, exactly like an unknown one.
func (s *Server) signRequest(ctx context.Context, residentID, id string) (activation.Request, error) {
	req, err := s.Activations.Get(ctx, id)
	if err != nil {
		return activation.Request{}, err
	}
	if req.ResidentID != residentID {
		return activation.Request{}, activation.ErrNotFound
	}
	return req, nil
}

// signCertificate returns the certificate a request names, if it is the
// resident's (nil if it is not, or gone).
func (s *Server) signCertificate(ctx context.Context, req activation.Request) (*ca.Certificate, error) {
	c, err := s.CA.Get(ctx, req.CredentialID)
	if errors.Is(err, ca.ErrNotFound) || (err == nil && c.ResidentID != req.ResidentID) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// signState is what the page says about a request.
func (s *Server) signState(req activation.Request, cert *ca.Certificate) string {
	switch req.State {
	case activation.StateApproved, activation.StateUsed:
		return signApproved
	case activation.StateDenied:
		return signDeclined
	}
	if !s.now().Before(req.ExpiresAt) {
		return signExpired
	}
	if cert == nil || cert.Status != ca.StatusValid || s.now().After(cert.Cert.NotAfter) {
		return signUnusable
	}
	return signPending
}

func (s *Server) signPage(w http.ResponseWriter, r *http.Request) {
	if !s.signingEnabled() {
		s.notFound(w, r)
		return
	}
	q := r.URL.Query()
	id := signRequestID(q.Get("id"))
	if id == "" {
		s.notFound(w, r)
		return
	}
	next, _ := signNext(q.Get("next"))
	sess, ok := s.requireSessionOr(w, r, signLogin(id, next))
	if !ok {
		return
	}
	ctx := r.Context()
	req, err := s.signRequest(ctx, sess.ResidentID, id)
	var cert *ca.Certificate
	if err == nil {
		cert, err = s.signCertificate(ctx, req)
	}
	switch {
	case errors.Is(err, activation.ErrNotFound):
		s.notFound(w, r)
		return
	case err != nil:
		s.Log.ErrorContext(ctx, "signing request page", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	lang := negotiateLanguage(r)
	v := signView{ID: req.ID, Next: next, Service: req.Name(lang), Description: req.Description, Code: req.Code(),
		ExpiresAt: req.ExpiresAt, State: s.signState(req, cert)}
	for _, d := range req.Documents {
		h := hex.EncodeToString(d.Hash)
		v.Documents = append(v.Documents, documentView{Label: d.Label, Algorithm: req.Hash.String(), Short: h[:min(16, len(h))], Hex: h})
	}
	if cert != nil {
		cv := viewCertificate(*cert)
		v.Cert = &cv
	}
	if next != "" {
		// Declining posts a form whose answer leads, through the provider's
		// resume path, to the service's redirect_uri: form-action would
		// stop the browser there (see pageCSP).
		setPageCSP(w, false, true)
	}
	s.render(w, r, http.StatusOK, "sign", page{Lang: lang, Title: "sign.title", Path: signPagePath(id, next), Data: v})
}

// signBody is what the approval API takes.
type signBody struct {
	ID       string          `json:"id"`
	Response json.RawMessage `json:"response,omitempty"`
	Next     string          `json:"next,omitempty"`
}

// signAPISession starts every signing API call: signing enabled, a
// well-formed JSON body with CSRF token, a live session of an active
// account. It answers the request itself when it returns false.
func (s *Server) signAPISession(w http.ResponseWriter, r *http.Request, body any) (session.Session, bool) {
	if !s.signingEnabled() {
		s.apiError(w, r, http.StatusNotFound, "not_found", "error.not_found")
		return session.Session{}, false
	}
	if !s.readJSON(w, r, body) {
		return session.Session{}, false
	}
	sess, err := s.Sessions.Get(r.Context(), r)
	if err == nil {
		var resident account.Resident
		if resident, err = s.Accounts.Get(r.Context(), sess.ResidentID); err == nil && resident.Status != account.StatusActive {
			err = session.ErrNoSession
		}
	}
	if err != nil {
		if !errors.Is(err, session.ErrNoSession) && !errors.Is(err, account.ErrNotFound) {
			s.Log.ErrorContext(r.Context(), "session lookup", "error", err)
		}
		s.apiError(w, r, http.StatusUnauthorized, "login_required", "err.session")
		return session.Session{}, false
	}
	return sess, true
}

// pendingRequest loads the resident's request for the approval API and
// checks that it can still be approved, answering the call itself if not.
func (s *Server) pendingRequest(w http.ResponseWriter, r *http.Request, residentID, id string) (activation.Request, bool) {
	ctx := r.Context()
	req, err := s.signRequest(ctx, residentID, signRequestID(id))
	var cert *ca.Certificate
	if err == nil {
		cert, err = s.signCertificate(ctx, req)
	}
	switch {
	case errors.Is(err, activation.ErrNotFound):
		s.apiError(w, r, http.StatusNotFound, "not_found", "sign.not_found")
		return req, false
	case err != nil:
		s.Log.ErrorContext(ctx, "signing request", "error", err)
		s.apiError(w, r, http.StatusInternalServerError, "server_error", "err.generic")
		return req, false
	}
	switch state := s.signState(req, cert); state {
	case signPending:
		return req, true
	case signExpired:
		s.apiError(w, r, http.StatusGone, "expired", "sign.state_expired")
	default:
		s.apiError(w, r, http.StatusConflict, "invalid_request", "sign.state_"+state)
	}
	return req, false
}

// apiSignOptions begins the approval ceremony: a passkey assertion whose
// challenge commits to the request.
func (s *Server) apiSignOptions(w http.ResponseWriter, r *http.Request) {
	var body signBody
	sess, ok := s.signAPISession(w, r, &body)
	if !ok {
		return
	}
	req, ok := s.pendingRequest(w, r, sess.ResidentID, body.ID)
	if !ok {
		return
	}
	flow, _ := existingFlow(r)
	opts, err := s.Passkeys.BeginBound(r.Context(), sess.ResidentID, flow, activation.Challenge(req))
	if db.IsUniqueViolation(err) {
		// The challenge is the request's commitment, the same on every
		// try; BeginBound replaces an abandoned try, so this is only two
		// tries at the same moment (two windows).
		s.apiError(w, r, http.StatusConflict, "invalid_request", "sign.in_progress")
		return
	}
	if err != nil {
		s.ceremonyFailed(w, r, err, "signature approval")
		return
	}
	s.apiOK(w, opts)
}

// approvalEvidence is what activation keeps as evidence of an approval:
// the assertion and the challenge it answered (base64url), so that anyone
// can check the signature again and see what it committed to.
type approvalEvidence struct {
	passkey.Assertion
	Challenge string `json:"challenge"`
}

// apiSignApprove finishes the approval ceremony and approves the request.
func (s *Server) apiSignApprove(w http.ResponseWriter, r *http.Request) {
	var body signBody
	sess, ok := s.signAPISession(w, r, &body)
	if !ok {
		return
	}
	req, ok := s.pendingRequest(w, r, sess.ResidentID, body.ID)
	if !ok {
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	challenge := activation.Challenge(req)
	flow, _ := existingFlow(r)
	_, assertion, err := s.Passkeys.FinishBound(ctx, sess.ResidentID, flow, challenge, body.Response)
	if errors.Is(err, passkey.ErrUserVerification) {
		s.Log.WarnContext(ctx, "signature approval without user verification", "error", err, "detail", passkey.LogDetail(err))
		s.apiError(w, r, http.StatusBadRequest, "invalid_request", "sign.uv_required")
		return
	}
	if err != nil {
		s.ceremonyFailed(w, r, err, "signature approval")
		return
	}
	evidence, err := json.Marshal(approvalEvidence{Assertion: assertion, Challenge: base64.RawURLEncoding.EncodeToString(challenge)})
	if err == nil {
		_, err = s.Activations.Approve(ctx, req.ID, sess.ResidentID, evidence)
	}
	switch {
	case errors.Is(err, activation.ErrExpired):
		s.apiError(w, r, http.StatusGone, "expired", "sign.state_expired")
		return
	case errors.Is(err, activation.ErrAnswered):
		s.apiError(w, r, http.StatusConflict, "invalid_request", "sign.state_approved")
		return
	case errors.Is(err, activation.ErrNotFound):
		s.apiError(w, r, http.StatusNotFound, "not_found", "sign.not_found")
		return
	case err != nil:
		s.Log.ErrorContext(ctx, "approving a signing request", "error", err)
		s.apiError(w, r, http.StatusInternalServerError, "server_error", "err.generic")
		return
	}
	if err := s.Accounts.Record(ctx, sess.ResidentID, account.KindSignatureApproved, signDetail(req)); err != nil {
		// The approval stands; the log line is what is missing.
		s.Log.ErrorContext(ctx, "recording a signature approval", "error", err)
	}
	redirect := "/account/signing?done=approved"
	if next, ok := signNext(body.Next); ok {
		redirect = next
	}
	s.apiOK(w, ceremonyResult{Redirect: redirect})
}

// signDetail is the activity log's detail of an answer: the service, and
// how many documents — never their labels or digests.
func signDetail(req activation.Request) map[string]string {
	d := map[string]string{"client": truncate(req.ClientName, 200), "documents": strconv.Itoa(len(req.Documents))}
	if req.ClientNameZh != "" {
		d["client_zh"] = truncate(req.ClientNameZh, 200)
	}
	return d
}

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// signDeny declines a request (a form: id, next, csrf).
func (s *Server) signDeny(w http.ResponseWriter, r *http.Request) {
	if !s.signingEnabled() {
		s.notFound(w, r)
		return
	}
	if !s.parseForm(w, r) {
		return
	}
	id := signRequestID(r.PostFormValue("id"))
	next, _ := signNext(r.PostFormValue("next"))
	if id == "" {
		s.notFound(w, r)
		return
	}
	sess, ok := s.requireSessionOr(w, r, signLogin(id, next))
	if !ok {
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	req, err := s.Activations.Deny(ctx, id, sess.ResidentID)
	switch {
	case errors.Is(err, activation.ErrNotFound):
		s.notFound(w, r)
		return
	case errors.Is(err, activation.ErrAnswered):
		// Answered already (in another tab): the page says how.
		http.Redirect(w, r, signPagePath(id, next), http.StatusSeeOther)
		return
	case err != nil:
		s.Log.ErrorContext(ctx, "declining a signing request", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	if err := s.Accounts.Record(ctx, sess.ResidentID, account.KindSignatureDeclined, signDetail(req)); err != nil {
		s.Log.ErrorContext(ctx, "recording a declined signature", "error", err)
	}
	target := "/account/signing?done=declined"
	if next != "" {
		target = next
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// pendingView is a request waiting for the resident.
type pendingView struct {
	ID        string
	Service   string
	Documents int
	ExpiresAt time.Time
}

// recordView is one signature made.
type recordView struct {
	Service string
	Label   string
	Format  string // as the page shows it
	At      time.Time
}

// signingView is the account's signing page's data.
type signingView struct {
	Level       string
	CanEnrol    bool // assurance level high
	Current     *certView
	Past        []certView
	Pending     []pendingView
	History     []recordView
	RevokeError string // translated, shown at the revocation form
}

// signingHistory is how many signatures the page lists.
const signingHistory = 50

func (s *Server) signingSession(w http.ResponseWriter, r *http.Request) (session.Session, bool) {
	if !s.signingEnabled() {
		s.notFound(w, r)
		return session.Session{}, false
	}
	return s.requireSession(w, r)
}

func (s *Server) signingPage(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.signingSession(w, r)
	if !ok {
		return
	}
	var notice string
	switch done := r.URL.Query().Get("done"); done {
	case "issued", "revoked", "approved", "declined":
		notice = s.message(r, "sign_account.done_"+done)
	}
	s.renderSigning(w, r, sess, http.StatusOK, notice, "")
}

func (s *Server) renderSigning(w http.ResponseWriter, r *http.Request, sess session.Session, status int, notice, revokeError string) {
	ctx := r.Context()
	lang := negotiateLanguage(r)
	resident, err := s.Accounts.Get(ctx, sess.ResidentID)
	var (
		certs   []ca.Certificate
		pending []activation.Request
		records []activation.Record
	)
	if err == nil {
		certs, err = s.CA.Certificates(ctx, sess.ResidentID)
	}
	if err == nil {
		pending, err = s.Activations.Pending(ctx, sess.ResidentID)
	}
	if err == nil {
		records, err = s.Activations.Records(ctx, sess.ResidentID, signingHistory)
	}
	if err != nil {
		s.Log.ErrorContext(ctx, "signing page", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	v := signingView{Level: resident.Level, CanEnrol: resident.Level == ca.LevelHigh, RevokeError: revokeError}
	for _, c := range certs {
		cv := viewCertificate(c)
		if c.Status == ca.StatusValid && v.Current == nil {
			v.Current = &cv
			continue
		}
		v.Past = append(v.Past, cv)
	}
	for _, p := range pending {
		v.Pending = append(v.Pending, pendingView{ID: p.ID, Service: p.Name(lang), Documents: len(p.Documents), ExpiresAt: p.ExpiresAt})
	}
	for _, rec := range records {
		f := rec.Format
		if f == "raw" || f == "" {
			f = s.msgs.text(lang, "sign_account.format_raw")
		}
		v.History = append(v.History, recordView{Service: rec.Name(lang), Label: rec.Label, Format: f, At: rec.CreatedAt})
	}
	s.render(w, r, status, "sign_account", page{Lang: lang, Title: "sign_account.title", Notice: notice, Data: v})
}

// signingCertificatePEM downloads the resident's certificate — the valid
// one, else the newest — followed by its chain (issuing CA, root), PEM.
func (s *Server) signingCertificatePEM(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.signingSession(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	c, err := s.CA.Current(ctx, sess.ResidentID)
	if errors.Is(err, ca.ErrNoCertificate) {
		var all []ca.Certificate
		all, err = s.CA.Certificates(ctx, sess.ResidentID)
		if err == nil && len(all) == 0 {
			s.notFound(w, r)
			return
		}
		if err == nil {
			c = all[0]
		}
	}
	if err != nil {
		s.Log.ErrorContext(ctx, "certificate download", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	var buf bytes.Buffer
	pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
	for _, x := range c.Chain {
		pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: x.Raw})
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-pem-file")
	h.Set("Content-Disposition", `attachment; filename="signing-certificate.pem"`)
	h.Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

// revocationReasons are the choices of the revocation form, as RFC 5280
// §5.3.1 reasons.
var revocationReasons = map[string]int{
	"lost":     ca.ReasonKeyCompromise,        // "I lost my phone / my key may be compromised"
	"unneeded": ca.ReasonCessationOfOperation, // "I no longer need it"
}

// signingRevoke revokes the resident's valid certificate (form: reason,
// confirm=yes, csrf).
func (s *Server) signingRevoke(w http.ResponseWriter, r *http.Request) {
	if !s.signingEnabled() {
		s.notFound(w, r)
		return
	}
	sess, ok := s.accountForm(w, r)
	if !ok {
		return
	}
	reason, ok := revocationReasons[r.PostFormValue("reason")]
	if !ok {
		s.renderSigning(w, r, sess, http.StatusUnprocessableEntity, "", s.message(r, "sign_account.revoke_reason_required"))
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		s.renderSigning(w, r, sess, http.StatusUnprocessableEntity, "", s.message(r, "sign_account.revoke_confirm_required"))
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	c, err := s.CA.Current(ctx, sess.ResidentID)
	if err == nil {
		err = s.CA.Revoke(ctx, c.ID, reason, "resident "+sess.ResidentID)
	}
	switch {
	case errors.Is(err, ca.ErrNoCertificate), errors.Is(err, ca.ErrAlreadyRevoked), errors.Is(err, ca.ErrNotFound):
		s.renderSigning(w, r, sess, http.StatusConflict, "", s.message(r, "sign_account.revoke_nothing"))
		return
	case err != nil:
		s.Log.ErrorContext(ctx, "revoking a certificate", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	if err := s.Accounts.Record(ctx, sess.ResidentID, account.KindCertificateRevoked,
		map[string]string{"serial": c.Serial.Text(16), "reason": ca.ReasonName(reason)}); err != nil {
		s.Log.ErrorContext(ctx, "recording a revocation", "error", err)
	}
	http.Redirect(w, r, "/account/signing?done=revoked", http.StatusSeeOther)
}

// enrolResident is the resident of a signing API call if they may hold a
// signing certificate (assurance level high); it answers the call itself
// if not.
func (s *Server) enrolResident(w http.ResponseWriter, r *http.Request, residentID string) (account.Resident, bool) {
	resident, err := s.Accounts.Get(r.Context(), residentID)
	if err != nil {
		s.Log.ErrorContext(r.Context(), "certificate enrolment", "error", err)
		s.apiError(w, r, http.StatusInternalServerError, "server_error", "err.generic")
		return resident, false
	}
	if resident.Level != ca.LevelHigh {
		s.apiError(w, r, http.StatusForbidden, "access_denied", "sign_account.level_too_low")
		return resident, false
	}
	return resident, true
}

// apiEnrolOptions begins the fresh passkey check before a certificate is
// issued.
func (s *Server) apiEnrolOptions(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.signAPISession(w, r, nil)
	if !ok {
		return
	}
	if _, ok := s.enrolResident(w, r, sess.ResidentID); !ok {
		return
	}
	flow, _ := existingFlow(r)
	opts, err := s.Passkeys.BeginReauth(r.Context(), sess.ResidentID, flow)
	if err != nil {
		s.ceremonyFailed(w, r, err, "certificate enrolment")
		return
	}
	s.apiOK(w, opts)
}

// apiEnrol checks the fresh passkey assertion and issues the resident a
// certificate in the names of the civil register (a valid one they
// already hold is superseded).
func (s *Server) apiEnrol(w http.ResponseWriter, r *http.Request) {
	var body assertionRequest
	sess, ok := s.signAPISession(w, r, &body)
	if !ok {
		return
	}
	resident, ok := s.enrolResident(w, r, sess.ResidentID)
	if !ok {
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	flow, _ := existingFlow(r)
	if _, err := s.Passkeys.FinishReauth(ctx, sess.ResidentID, flow, body.Response); err != nil {
		if errors.Is(err, passkey.ErrUserVerification) {
			s.apiError(w, r, http.StatusBadRequest, "invalid_request", "sign.uv_required")
			return
		}
		s.ceremonyFailed(w, r, err, "certificate enrolment")
		return
	}
	c, err := s.CA.Issue(ctx, ca.IssueRequest{ResidentID: resident.ID, GivenName: resident.GivenNames,
		FamilyName: resident.Surname, Level: resident.Level})
	switch {
	case errors.Is(err, ca.ErrAssuranceTooLow):
		s.apiError(w, r, http.StatusForbidden, "access_denied", "sign_account.level_too_low")
		return
	case err != nil:
		s.Log.ErrorContext(ctx, "issuing a signing certificate", "error", err)
		s.apiError(w, r, http.StatusInternalServerError, "server_error", "err.generic")
		return
	}
	if err := s.Accounts.Record(ctx, sess.ResidentID, account.KindCertificateIssued, map[string]string{"serial": c.Serial.Text(16)}); err != nil {
		s.Log.ErrorContext(ctx, "recording a certificate", "error", err)
	}
	s.apiOK(w, ceremonyResult{Redirect: "/account/signing?done=issued"})
}
