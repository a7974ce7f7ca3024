package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"eidp/idp/account"
	"eidp/idp/passkey"
	"eidp/idp/proofing"
	"eidp/idp/session"
	"eidp/internal/httpx"
)

// The ceremony API speaks the WebAuthn Level 3 JSON forms: options are
// PublicKeyCredentialCreationOptionsJSON / RequestOptionsJSON, responses are
// what credential.toJSON() returns, so a native app can use it as well.
// Errors are {"error", "error_description"} with a description in the
// resident's language.

// readJSON checks method-independent preconditions of an API call — JSON
// content type, CSRF, size — and decodes the body into v (nil: no body
// needed). It answers the request itself when it returns false.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		s.apiError(w, r, http.StatusUnsupportedMediaType, "invalid_request", "err.bad_request")
		return false
	}
	if !checkCSRF(r) {
		s.apiError(w, r, http.StatusForbidden, "invalid_request", "err.csrf")
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxJSON))
	if err != nil {
		if httpx.IsBodyTooLarge(err) {
			s.apiError(w, r, http.StatusRequestEntityTooLarge, "invalid_request", "err.too_large")
		} else {
			s.apiError(w, r, http.StatusBadRequest, "invalid_request", "err.bad_request")
		}
		return false
	}
	if v == nil {
		return true
	}
	if err := json.Unmarshal(body, v); err != nil {
		s.apiError(w, r, http.StatusBadRequest, "invalid_request", "err.bad_request")
		return false
	}
	return true
}

func (s *Server) apiError(w http.ResponseWriter, r *http.Request, status int, code, key string) {
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteError(w, status, code, s.message(r, key))
}

func (s *Server) apiOK(w http.ResponseWriter, v any) {
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, v)
}

// ceremonyFailed maps a passkey error to a response; details go to the log.
func (s *Server) ceremonyFailed(w http.ResponseWriter, r *http.Request, err error, what string) {
	switch {
	case errors.Is(err, passkey.ErrCredentialBlocked):
		// Operators must see clone detection and attempts with blocked keys.
		s.Log.WarnContext(r.Context(), what+" with a blocked passkey", "error", err, "detail", passkey.LogDetail(err))
		s.apiError(w, r, http.StatusForbidden, "access_denied", "login.blocked")
	case errors.Is(err, passkey.ErrChallenge), errors.Is(err, passkey.ErrVerification),
		errors.Is(err, passkey.ErrUserVerification), errors.Is(err, passkey.ErrPolicy),
		errors.Is(err, passkey.ErrUnknownCredential):
		s.Log.WarnContext(r.Context(), what+" rejected", "error", err, "detail", passkey.LogDetail(err))
		key := "passkey.failed"
		if what == "login" {
			key = "login.failed"
		}
		s.apiError(w, r, http.StatusBadRequest, "invalid_request", key)
	default:
		s.Log.ErrorContext(r.Context(), what+" failed", "error", err)
		s.apiError(w, r, http.StatusInternalServerError, "server_error", "err.generic")
	}
}

type purposeRequest struct {
	Purpose flowPurpose `json:"purpose"`
}

// ceremonyResident finds whom a registration ceremony is for: a proofed flow
// (register, recover), or, to add a device, the logged-in resident whose
// fresh passkey check opened an "add" flow.
func (s *Server) ceremonyResident(r *http.Request, p flowPurpose) (string, bool) {
	flow, ok := existingFlow(r)
	if !ok {
		return "", false
	}
	id, err := s.flows.resident(r.Context(), flow, p)
	if err != nil {
		return "", false
	}
	if p == purposeAdd {
		sess, err := s.Sessions.Get(r.Context(), r)
		if err != nil || sess.ResidentID != id {
			return "", false
		}
	}
	return id, true
}

func (s *Server) apiRegisterOptions(w http.ResponseWriter, r *http.Request) {
	var req purposeRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	residentID, ok := s.ceremonyResident(r, req.Purpose)
	if !ok {
		s.apiError(w, r, http.StatusForbidden, "access_denied", "err.session")
		return
	}
	resident, err := s.Accounts.Get(r.Context(), residentID)
	if err != nil {
		s.ceremonyFailed(w, r, err, "registration")
		return
	}
	flow, _ := existingFlow(r)
	opts, err := s.Passkeys.BeginRegistration(r.Context(), passkey.User{
		ResidentID:  resident.ID,
		Name:        resident.DisplayName(English),
		DisplayName: resident.DisplayName(negotiateLanguage(r)),
	}, flow)
	if err != nil {
		s.ceremonyFailed(w, r, err, "registration")
		return
	}
	s.apiOK(w, opts)
}

type registerRequest struct {
	Purpose  flowPurpose     `json:"purpose"`
	Response json.RawMessage `json:"response"`
	Nickname string          `json:"nickname"`
}

type ceremonyResult struct {
	Redirect      string   `json:"redirect"`
	RecoveryCodes []string `json:"recoveryCodes,omitempty"`
}

func (s *Server) apiRegister(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	residentID, ok := s.ceremonyResident(r, req.Purpose)
	if !ok {
		s.apiError(w, r, http.StatusForbidden, "access_denied", "err.session")
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	flow, _ := existingFlow(r)
	cred, err := s.Passkeys.FinishRegistration(ctx, residentID, flow, req.Response, req.Nickname)
	if err != nil {
		s.ceremonyFailed(w, r, err, "registration")
		return
	}
	if err := s.flows.finish(ctx, flow); err != nil {
		s.ceremonyFailed(w, r, err, "registration")
		return
	}
	var result ceremonyResult
	switch req.Purpose {
	case purposeRegister:
		err = s.Accounts.Record(ctx, residentID, account.KindPasskeyAdded, map[string]string{"synced": yesNo(cred.BackupEligible)})
		if err == nil {
			result.RecoveryCodes, err = s.Accounts.NewRecoveryCodes(ctx, residentID)
		}
		if err == nil {
			err = s.startSession(ctx, w, r, residentID, cred)
		}
		result.Redirect = "/account"
	case purposeRecover:
		// The old passkeys and sessions were revoked when the recovery
		// code was accepted (POST /recover).
		err = s.Accounts.Record(ctx, residentID, account.KindPasskeyAdded, map[string]string{"synced": yesNo(cred.BackupEligible), "via": "recovery"})
		if err == nil {
			err = s.startSession(ctx, w, r, residentID, cred)
		}
		result.Redirect = "/account?done=recovered"
	case purposeAdd:
		err = s.Accounts.Record(ctx, residentID, account.KindPasskeyAdded, map[string]string{"synced": yesNo(cred.BackupEligible)})
		result.Redirect = "/account?done=added"
	}
	if err != nil {
		s.ceremonyFailed(w, r, err, "registration")
		return
	}
	s.apiOK(w, result)
}

// startSession logs the resident in after a passkey ceremony: acr from the
// resident's assurance level, amr from the passkey (RFC 8176).
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, residentID string, cred passkey.Credential) error {
	resident, err := s.Accounts.Get(ctx, residentID)
	if err != nil {
		return err
	}
	level, err := proofing.ParseLevel(resident.Level)
	if err != nil {
		return err
	}
	amr := session.AMRForPasskey(cred.BackupEligible)
	if old, err := s.Sessions.Get(ctx, r); err == nil {
		if old.ResidentID == residentID {
			// The same resident again (a service asked for a fresh login:
			// prompt=login, max_age, a higher acr): the session records the
			// new authentication and keeps its ID, so the services already
			// logged in with it are not logged out.
			if _, err := s.Sessions.Reauthenticate(ctx, w, old, level.ACR(), amr); err == nil {
				return nil
			} else if !errors.Is(err, session.ErrNoSession) {
				return err
			}
		} else if err := s.Sessions.Revoke(ctx, old.ResidentID, old.ID); err != nil && !errors.Is(err, session.ErrNoSession) {
			// Someone else's session in this browser ends: one browser,
			// one live session.
			return err
		}
	}
	_, err = s.Sessions.Create(ctx, w, residentID, level.ACR(), amr, r.UserAgent())
	return err
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (s *Server) apiLoginOptions(w http.ResponseWriter, r *http.Request) {
	if !s.readJSON(w, r, nil) {
		return
	}
	flow, _ := existingFlow(r)
	opts, err := s.Passkeys.BeginLogin(r.Context(), flow)
	if err != nil {
		s.ceremonyFailed(w, r, err, "login")
		return
	}
	s.apiOK(w, opts)
}

type assertionRequest struct {
	Response json.RawMessage `json:"response"`
	// Next is the login page's return path (a pending authorization);
	// ignored by reauth, and by login unless authorizePath accepts it.
	Next string `json:"next,omitempty"`
}

func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request) {
	var req assertionRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	flow, _ := existingFlow(r)
	cred, err := s.Passkeys.FinishLogin(ctx, flow, req.Response)
	if errors.Is(err, passkey.ErrSignCountRegressed) && cred.ResidentID != "" {
		// The credential was blocked by this very attempt (a clone shows
		// itself by an old counter): the owner sees it in the activity log.
		if rerr := s.Accounts.Record(ctx, cred.ResidentID, account.KindPasskeyBlocked, map[string]string{"reason": cred.BlockedReason}); rerr != nil {
			s.Log.ErrorContext(ctx, "recording a blocked passkey", "error", rerr)
		}
	}
	if err != nil {
		s.ceremonyFailed(w, r, err, "login")
		return
	}
	resident, err := s.Accounts.Get(ctx, cred.ResidentID)
	if err == nil && resident.Status != account.StatusActive {
		s.apiError(w, r, http.StatusForbidden, "access_denied", "login.failed")
		return
	}
	if err == nil {
		err = s.startSession(ctx, w, r, cred.ResidentID, cred)
	}
	if err == nil {
		err = s.Accounts.Record(ctx, cred.ResidentID, account.KindLogin, map[string]string{"synced": yesNo(cred.BackupEligible)})
	}
	if err != nil {
		s.ceremonyFailed(w, r, err, "login")
		return
	}
	redirect := "/account"
	if next, ok := authorizePath(req.Next); ok {
		redirect = next
	}
	s.apiOK(w, ceremonyResult{Redirect: redirect})
}

func (s *Server) apiReauthOptions(w http.ResponseWriter, r *http.Request) {
	if !s.readJSON(w, r, nil) {
		return
	}
	sess, err := s.Sessions.Get(r.Context(), r)
	if err != nil {
		s.apiError(w, r, http.StatusUnauthorized, "login_required", "err.session")
		return
	}
	flow, _ := existingFlow(r)
	opts, err := s.Passkeys.BeginReauth(r.Context(), sess.ResidentID, flow)
	if err != nil {
		s.ceremonyFailed(w, r, err, "reauth")
		return
	}
	s.apiOK(w, opts)
}

// apiReauth checks a fresh passkey assertion of the logged-in resident and
// opens a short "add a device" flow for the registration that follows.
func (s *Server) apiReauth(w http.ResponseWriter, r *http.Request) {
	var req assertionRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	sess, err := s.Sessions.Get(ctx, r)
	if err != nil {
		s.apiError(w, r, http.StatusUnauthorized, "login_required", "err.session")
		return
	}
	flow, _ := existingFlow(r)
	if _, err := s.Passkeys.FinishReauth(ctx, sess.ResidentID, flow, req.Response); err != nil {
		s.ceremonyFailed(w, r, err, "reauth")
		return
	}
	if err := s.flows.start(ctx, flow, purposeAdd, sess.ResidentID); err != nil {
		s.ceremonyFailed(w, r, err, "reauth")
		return
	}
	s.apiOK(w, map[string]string{"status": "ok"})
}
