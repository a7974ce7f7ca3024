package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// writeZitadelError writes an error made for zitadel's HTTP layer
// (an *oidc.Error, possibly in an op.StatusError) on one of our own
// endpoints.
func writeZitadelError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	var oe *oidc.Error
	if !errors.As(err, &oe) {
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "internal error")
		return
	}
	if oe.ErrorType == oidc.InvalidClient {
		status = http.StatusUnauthorized
	}
	if oe.ErrorType == oidc.ServerError {
		status = http.StatusInternalServerError
	}
	writeOAuthError(w, status, string(oe.ErrorType), oe.Description)
}

// safeDescription keeps an error_description within the characters RFC
// 6749 §4.1.2.1 and §5.2 allow (printable ASCII but '"' and '\'): quotes
// become apostrophes, "§" becomes "section", anything else outside the set
// is dropped.
func safeDescription(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteByte('\'')
		case r == '§':
			b.WriteString("section")
		case r == '\\':
		case r >= 0x20 && r <= 0x7e:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// oauthErrors wraps the zitadel-served endpoints (token, introspection,
// revocation) so that their errors follow RFC 6749 §5.2 to the letter: a
// request with no client authentication at all is 401 invalid_client; a
// 401 to a client that authenticated with HTTP Basic carries
// WWW-Authenticate; error descriptions use only the allowed characters.
func oauthErrors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _, basic := r.BasicAuth()
		if err := r.ParseForm(); err != nil {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the request body could not be read")
			return
		}
		if !basic && r.PostForm.Get("client_id") == "" && r.PostForm.Get("client_assertion") == "" {
			writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication is required")
			return
		}
		rec := &capture{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		body := rec.body.Bytes()
		if rec.status >= 400 {
			var e map[string]any
			if json.Unmarshal(body, &e) == nil {
				if d, ok := e["error_description"].(string); ok {
					e["error_description"] = safeDescription(d)
				}
				body, _ = json.Marshal(e)
			}
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		if rec.status == http.StatusUnauthorized && basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="eidp", charset="UTF-8"`)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.status)
		w.Write(body)
	})
}

// capture records a response (they are small: tokens and errors).
type capture struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *capture) Header() http.Header { return c.header }
func (c *capture) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}
func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.body.Write(b)
}
