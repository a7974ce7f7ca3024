package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"eidp/idp/interaction"
)

// The account page's "connected services": the relying parties the
// resident has let see their data, and withdrawing that consent.

// maxClientID bounds the client_id form field.
const maxClientID = 256

// maxNoticeName bounds a service name carried to the notice.
const maxNoticeName = 200

func (s *Server) revokeConsent(w http.ResponseWriter, r *http.Request) {
	if s.OIDC == nil {
		s.notFound(w, r)
		return
	}
	sess, ok := s.accountForm(w, r)
	if !ok {
		return
	}
	clientID := r.PostFormValue("client_id")
	if clientID == "" || len(clientID) > maxClientID || !printableASCII(clientID) {
		s.errorPage(w, r, http.StatusBadRequest, "err.bad_request")
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	// The name the resident knows the service by, before it leaves the list.
	consents, err := s.OIDC.Consents(ctx, sess.ResidentID, negotiateLanguage(r))
	name := clientID
	for _, c := range consents {
		if c.Client.ID == clientID && c.Client.Name != "" {
			name = c.Client.Name
		}
	}
	if err == nil {
		err = s.OIDC.Revoke(ctx, sess.ResidentID, clientID)
	}
	switch {
	case errors.Is(err, interaction.ErrNotFound):
		s.errorPage(w, r, http.StatusNotFound, "services.not_connected")
		return
	case err != nil:
		s.Log.ErrorContext(ctx, "withdrawing consent", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	http.Redirect(w, r, "/account?"+s.withdrawnQuery(w, r, name), http.StatusSeeOther)
}

// The notice after withdrawing names the service, and the name travels in
// the redirect's query (POST → redirect → GET). It is signed with this
// browser's flow, so that a link someone else crafts
// (/account?done=withdrawn&name=…) cannot put words on the account page.

func noticeMAC(flow, text string) string {
	m := hmac.New(sha256.New, []byte(flow))
	m.Write([]byte("eidp notice v1\x00" + text))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) withdrawnQuery(w http.ResponseWriter, r *http.Request, name string) string {
	if len(name) > maxNoticeName {
		name = strings.ToValidUTF8(name[:maxNoticeName], "")
	}
	return url.Values{"done": {"withdrawn"}, "name": {name}, "sig": {noticeMAC(s.flow(w, r), name)}}.Encode()
}

// withdrawnName returns the service name of a signed notice.
func (s *Server) withdrawnName(r *http.Request) (string, bool) {
	flow, ok := existingFlow(r)
	if !ok {
		return "", false
	}
	q := r.URL.Query()
	name, sig := q.Get("name"), q.Get("sig")
	if name == "" || !hmac.Equal([]byte(sig), []byte(noticeMAC(flow, name))) {
		return "", false
	}
	return name, true
}
