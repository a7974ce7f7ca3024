package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"eidp/idp/client"
	"eidp/idp/interaction"
	"eidp/idp/session"
)

// Credential authorization at the authorization endpoint: the OAuth route
// of the Cloud Signature Consortium API v2 (§8.4.2, scope=credential with
// credentialID, hashes, hashAlgorithmOID, description) and its RFC 9396
// form (authorization_details of type "credential" with credentialID,
// documentDigests [{hash, label}] and hashAlgorithmOID). After login the
// resident approves the request on the signing service's approval page
// (a passkey assertion that commits to the digests); only then is the code
// issued, and its access token is the signature activation data.

const (
	maxSigningDetails = 16 << 10
	authzDetailsType  = "credential"
)

// cscDetails is one authorization_details entry of type "credential".
type cscDetails struct {
	Type             string `json:"type"`
	CredentialID     string `json:"credentialID"`
	HashAlgorithmOID string `json:"hashAlgorithmOID"`
	DocumentDigests  []struct {
		Hash  string `json:"hash"`
		Label string `json:"label"`
	} `json:"documentDigests"`
	Description        string `json:"description,omitempty"`
	SignatureQualifier string `json:"signatureQualifier,omitempty"`
}

// decodeDigest accepts standard or URL-safe base64, padded or not.
func decodeDigest(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "+/") {
		return base64.RawStdEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// parseSigning reads a credential authorization from the request, if it
// asks for one (nil, nil otherwise).
func (p *Provider) parseSigning(c client.Client, form url.Values, scopes []string) (*interaction.SigningAuthorization, *authzError) {
	details := form.Get("authorization_details")
	if details == "" && !slices.Contains(scopes, scopeCredential) {
		return nil, nil
	}
	if p.Signing == nil {
		return nil, authzErr("invalid_scope", "this server does not offer remote signing")
	}
	if !c.IsScopeAllowed(scopeCredential) {
		return nil, authzErr("invalid_scope", "scope %q is not allowed for this client", scopeCredential)
	}
	for _, s := range scopes {
		if s != scopeCredential && s != scopeOpenID {
			return nil, authzErr("invalid_scope", "a credential authorization may only carry the scopes credential and openid")
		}
	}
	if len(details) > maxSigningDetails {
		return nil, authzErr("invalid_request", "authorization_details is too long")
	}
	var sa interaction.SigningAuthorization
	if details != "" {
		var list []cscDetails
		if err := json.Unmarshal([]byte(details), &list); err != nil || len(list) != 1 {
			return nil, authzErr("invalid_authorization_details", "authorization_details must be a JSON array with one object of type credential")
		}
		d := list[0]
		if d.Type != authzDetailsType {
			return nil, authzErr("invalid_authorization_details", "authorization details type %q is not supported (only credential)", d.Type)
		}
		sa = interaction.SigningAuthorization{CredentialID: d.CredentialID, HashAlgorithmOID: d.HashAlgorithmOID, Description: d.Description}
		for i, dd := range d.DocumentDigests {
			h, err := decodeDigest(dd.Hash)
			if err != nil {
				return nil, authzErr("invalid_authorization_details", "documentDigests[%d].hash is not base64", i)
			}
			sa.Documents = append(sa.Documents, interaction.SigningDocument{Label: dd.Label, Hash: h})
		}
	} else {
		// CSC API v2 §8.4.2: hashes is a comma-separated list of base64url
		// values; the labels are not part of this form, so each document is
		// shown by its position.
		sa = interaction.SigningAuthorization{CredentialID: form.Get("credentialID"), HashAlgorithmOID: form.Get("hashAlgorithmOID"),
			Description: form.Get("description")}
		for i, hv := range strings.Split(form.Get("hashes"), ",") {
			if hv == "" {
				continue
			}
			h, err := decodeDigest(hv)
			if err != nil {
				return nil, authzErr("invalid_request", "hashes[%d] is not base64url", i)
			}
			sa.Documents = append(sa.Documents, interaction.SigningDocument{Label: "Document " + itoa(i+1), Hash: h})
		}
		if n := form.Get("numSignatures"); n != "" && n != itoa(len(sa.Documents)) {
			return nil, authzErr("invalid_request", "numSignatures does not match the number of hashes")
		}
	}
	if sa.CredentialID == "" || sa.HashAlgorithmOID == "" || len(sa.Documents) == 0 {
		return nil, authzErr("invalid_request", "a credential authorization needs credentialID, hashAlgorithmOID and at least one document digest")
	}
	return &sa, nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// proceedSigning continues a credential authorization once the resident
// is logged in: create the signing request, send the resident to approve
// it, and issue the code once approved.
func (p *Provider) proceedSigning(w http.ResponseWriter, r *http.Request, c client.Client, id string, a authzParams, sess session.Session, fail func(*authzError)) {
	ctx := r.Context()
	if a.has("none") {
		fail(authzErr("interaction_required", "a signature must be approved by the resident"))
		return
	}
	if a.SigningID == "" {
		sid, err := p.Signing.BeginSigning(ctx, c.ClientID, sess.ResidentID, *a.Signing)
		if errors.Is(err, interaction.ErrSigningRefused) {
			fail(authzErr("invalid_request", "%s", describe(err)))
			return
		}
		if err != nil {
			p.internalError(w, r, "authorize: signing request", err)
			return
		}
		a.SigningID = sid
		if err := p.saveParams(ctx, id, a); err != nil {
			p.internalError(w, r, "authorize: bind signing request", err)
			return
		}
	}
	state, err := p.Signing.SigningState(ctx, a.SigningID, sess.ResidentID)
	if err != nil {
		p.internalError(w, r, "authorize: signing state", err)
		return
	}
	switch state {
	case interaction.SigningPending:
		next := PathResume + "?id=" + url.QueryEscape(id)
		target := p.Signing.ApprovalPath(a.SigningID)
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		http.Redirect(w, r, target+sep+"next="+url.QueryEscape(next), http.StatusSeeOther)
	case interaction.SigningApproved:
		redirect, grantID, err := p.complete(ctx, c, id, a, sess, nil)
		if err == nil {
			err = p.Signing.BindSigning(ctx, a.SigningID, grantID)
		}
		if err != nil {
			p.internalError(w, r, "authorize: complete signing", err)
			return
		}
		http.Redirect(w, r, redirect, http.StatusSeeOther)
	case interaction.SigningDenied:
		fail(authzErr("access_denied", "the resident declined to sign"))
	default:
		fail(authzErr("access_denied", "the signing request expired before the resident approved it"))
	}
}

// saveParams stores the updated request parameters.
func (p *Provider) saveParams(ctx context.Context, id string, a authzParams) error {
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return p.Grants.UpdateRequest(ctx, id, raw)
}

// AccessToken is what a valid access token of ours says.
type AccessToken struct {
	ClientID   string
	ResidentID string // "" for a client credentials token
	Subject    string // as the client knows the resident (or the client ID)
	GrantID    string // "" for a client credentials token
	Scopes     []string
	Expiry     time.Time
}

// HasScope reports whether the token carries scope.
func (t AccessToken) HasScope(scope string) bool { return slices.Contains(t.Scopes, scope) }

// ErrInvalidToken is VerifyAccessToken's answer for a token that is not a
// valid, unexpired, unrevoked access token of this server.
var ErrInvalidToken = errInvalidToken

// VerifyAccessToken checks a bearer access token for a resource server in
// this process (the CSC API): signature, issuer, audience, expiry,
// revocation and its grant.
func (p *Provider) VerifyAccessToken(ctx context.Context, token string) (AccessToken, error) {
	at, g, err := p.parseAccessToken(ctx, token)
	if err != nil {
		return AccessToken{}, err
	}
	out := AccessToken{ClientID: at.ClientID, Subject: at.Subject, Scopes: strings.Fields(at.Scope), Expiry: at.Expiry.Time()}
	if g != nil {
		out.ResidentID, out.GrantID = g.ResidentID, g.ID
	}
	return out, nil
}

// signingDetails is the RFC 9396 form of an approved credential
// authorization, for the token response (nil for other requests).
func signingDetails(a *interaction.SigningAuthorization) (json.RawMessage, error) {
	if a == nil {
		return nil, nil
	}
	d := cscDetails{Type: authzDetailsType, CredentialID: a.CredentialID, HashAlgorithmOID: a.HashAlgorithmOID, Description: a.Description}
	for _, doc := range a.Documents {
		d.DocumentDigests = append(d.DocumentDigests, struct {
			Hash  string `json:"hash"`
			Label string `json:"label"`
		}{base64.StdEncoding.EncodeToString(doc.Hash), doc.Label})
	}
	return json.Marshal([]cscDetails{d})
}
