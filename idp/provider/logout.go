package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"eidp/idp/client"
	"eidp/idp/logout"
	"eidp/idp/session"
)

// idTokenHint is what we read from an id_token_hint.
type idTokenHint struct {
	Issuer   string       `json:"iss"`
	Subject  string       `json:"sub"`
	Audience jwt.Audience `json:"aud"`
	SID      string       `json:"sid"`
}

// parseHint verifies an ID token we issued. It may have expired (OIDC
// RP-Initiated Logout §2: expired hints are fine); the signature must be
// ours, from a key still published.
func (p *Provider) parseHint(ctx context.Context, hint string) (idTokenHint, error) {
	var h idTokenHint
	payload, err := p.verifyOwn(ctx, hint, "")
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(payload, &h); err != nil || h.Issuer != p.opts.Issuer || len(h.Audience) != 1 || h.Subject == "" {
		return h, errInvalidToken
	}
	return h, nil
}

// hintSubject verifies an id_token_hint at the authorization endpoint and
// returns its subject; it must have been issued to c.
func (p *Provider) hintSubject(ctx context.Context, c client.Client, hint string) (string, error) {
	h, err := p.parseHint(ctx, hint)
	if err != nil {
		return "", err
	}
	if h.Audience[0] != c.ClientID {
		return "", errInvalidToken
	}
	return h.Subject, nil
}

// endSession is the RP-initiated logout endpoint (OpenID Connect
// RP-Initiated Logout 1.0). With a valid id_token_hint for the current
// session the resident is logged out at once; without one, nothing is
// ended behind the resident's back: the page asks. post_logout_redirect_uri
// must be registered (exact match) by the client the hint or client_id
// names.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.browserForm(w, r) {
		return
	}
	q := r.Form
	var (
		hint    idTokenHint
		hasHint bool
		c       client.Client
		hasC    bool
	)
	if raw := q.Get("id_token_hint"); raw != "" {
		h, err := p.parseHint(ctx, raw)
		if err != nil {
			p.ErrorPage(w, r, http.StatusBadRequest, "invalid_request", "id_token_hint is not a valid ID token of this server")
			return
		}
		hint, hasHint = h, true
	}
	clientID := q.Get("client_id")
	if hasHint {
		if clientID != "" && clientID != hint.Audience[0] {
			p.ErrorPage(w, r, http.StatusBadRequest, "invalid_request", "client_id does not match id_token_hint")
			return
		}
		clientID = hint.Audience[0]
	}
	if clientID != "" {
		var err error
		c, err = p.Clients.Get(ctx, clientID)
		if err != nil {
			p.ErrorPage(w, r, http.StatusBadRequest, "invalid_request", "unknown client")
			return
		}
		hasC = true
	}
	redirect := q.Get("post_logout_redirect_uri")
	if redirect != "" && (!hasC || !slices.Contains(c.PostLogoutRedirectURIs, redirect)) {
		p.ErrorPage(w, r, http.StatusBadRequest, "invalid_request", "post_logout_redirect_uri is not registered for this client")
		return
	}
	sess, err := p.Sessions.Get(ctx, r)
	switch {
	case errors.Is(err, session.ErrNoSession):
		// Already logged out.
	case err != nil:
		p.internalError(w, r, "end session", err)
		return
	case hasHint && p.sidFor(c, sess.ID) == hint.SID && p.subjectFor(c, sess.ResidentID) == hint.Subject:
		if err := p.Sessions.Logout(ctx, w, r); err != nil {
			p.internalError(w, r, "end session", err)
			return
		}
	default:
		// No proof that this client's resident is the one logged in here:
		// ask rather than end the session.
		http.Redirect(w, r, "/logout/confirm", http.StatusSeeOther)
		return
	}
	if redirect == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	v := map[string][]string{}
	if st := q.Get("state"); st != "" {
		v["state"] = []string{st}
	}
	if len(v) > 0 {
		redirect = appendQuery(redirect, v)
	}
	http.Redirect(w, r, redirect, http.StatusSeeOther)
}

// SessionsEnded is the session manager's OnEnd hook: the grants of the
// ended sessions are revoked and every client that had one is told by
// back-channel logout (queued: the resident never waits on a client).
func (p *Provider) SessionsEnded(ctx context.Context, residentID string, sessionIDs []string) error {
	var notices []logout.Notice
	for _, sid := range sessionIDs {
		grants, err := p.Grants.RevokeForSession(ctx, sid, "session_ended")
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, g := range grants {
			if seen[g.ClientID] {
				continue
			}
			seen[g.ClientID] = true
			c, err := p.Clients.Get(ctx, g.ClientID)
			if errors.Is(err, client.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			notices = append(notices, logout.Notice{ClientID: c.ClientID,
				Subject: p.subjectFor(c, g.ResidentID), SID: p.sidFor(c, sid)})
		}
	}
	if len(notices) == 0 {
		return nil
	}
	return p.Logout.Enqueue(ctx, notices)
}

// SignLogoutToken signs back-channel logout tokens (idp/logout's Sign).
func (p *Provider) SignLogoutToken(ctx context.Context, alg, typ string, claims map[string]any) (string, error) {
	if alg == "" {
		alg = defaultIDTokenAlg
	}
	return p.Keys.SignJSON(ctx, jose.SignatureAlgorithm(alg), typ, claims)
}
