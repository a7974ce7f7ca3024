package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"

	"eidp/idp/client"
	"eidp/internal/httpx"
)

// Authorize checks the request's credentials and returns the calling admin
// client, or an error: the handler answers 401 (RFC 6750 §3.1
// invalid_token), or 403 insufficient_scope if the error wraps ErrForbidden.
// The provider implements it: it verifies the Bearer access token, that it
// carries client.ScopeAdmin, and loads the client it was issued to. The
// error is logged, never sent.
type Authorize func(r *http.Request) (client.Client, error)

// ErrForbidden: the caller authenticated but is not an admin client, or its
// token lacks the eidp:admin scope.
var ErrForbidden = errors.New("admin: not an admin client")

// MaxBodySize is the largest request body accepted, in bytes.
const MaxBodySize = client.MaxMetadataSize

// Error codes of this API besides RFC 6750's and RFC 7591 §3.2.2's.
const (
	CodeNotFound       = "not_found"       // no client with that ID
	CodeNoSecret       = "no_secret"       // the client authenticates without a secret
	CodeInvalidRequest = "invalid_request" // the request itself is malformed (RFC 6749 §5.2)
	CodeServerError    = "server_error"
)

// Handler serves the admin API.
type Handler struct {
	clients   *client.Store
	authorize Authorize
	log       *slog.Logger

	// CheckSectorIdentifier, when set, is called before a client is stored
	// with a sector_identifier_uri that is new or whose redirect URIs
	// changed; an error refuses the request as invalid_client_metadata for
	// sector_identifier_uri, with the error's text as the description. The
	// provider sets it to subject.ValidateSectorIdentifierURI with its
	// SSRF-safe fetcher (OpenID Connect Registration §5).
	CheckSectorIdentifier func(ctx context.Context, sectorIdentifierURI string, redirectURIs []string) error
}

// New returns a Handler managing the clients in store, for callers that
// authorize lets in; log records every change.
func New(clients *client.Store, authorize Authorize, log *slog.Logger) *Handler {
	return &Handler{clients: clients, authorize: authorize, log: log}
}

// Register adds the routes under /admin/clients to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /admin/clients", h.guard(h.create))
	mux.HandleFunc("GET /admin/clients", h.guard(h.list))
	mux.HandleFunc("GET /admin/clients/{id}", h.guard(h.get))
	mux.HandleFunc("PUT /admin/clients/{id}", h.guard(h.replace))
	mux.HandleFunc("DELETE /admin/clients/{id}", h.guard(h.delete))
	mux.HandleFunc("POST /admin/clients/{id}/secret", h.guard(h.rotateSecret))
	// Other methods get a JSON 405 rather than the mux's plain-text one.
	mux.HandleFunc("/admin/clients", methodNotAllowed("GET, POST"))
	mux.HandleFunc("/admin/clients/{id}", methodNotAllowed("GET, PUT, DELETE"))
	mux.HandleFunc("/admin/clients/{id}/secret", methodNotAllowed("POST"))
}

// handlerFunc is a route's handler, run for an authorized admin client.
type handlerFunc func(w http.ResponseWriter, r *http.Request, caller client.Client)

// guard authorizes the request before next runs, and marks every response
// as not to be stored: a response may carry a client secret (RFC 6749 §5.1).
func (h *Handler) guard(next handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		caller, err := h.authorize(r)
		if err == nil && !caller.Admin {
			// Authorize promises an admin client; check anyway, since a
			// slip there would open every client to any token.
			err = fmt.Errorf("%w: %s", ErrForbidden, caller.ClientID)
		}
		if err != nil {
			h.refuse(w, r, err)
			return
		}
		next(w, r, caller)
	}
}

// refuse answers a request that failed authorization, as RFC 6750 §3
// describes. The cause goes to the log only.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	if errors.Is(err, ErrForbidden) {
		h.log.WarnContext(ctx, "admin API: caller is not an admin", "request_id", httpx.RequestIDFrom(ctx), "error", err)
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+client.ScopeAdmin+`"`)
		httpx.WriteError(w, http.StatusForbidden, "insufficient_scope",
			"the admin API needs an access token with scope "+client.ScopeAdmin+", issued to a client registered with admin: true")
		return
	}
	h.log.WarnContext(ctx, "admin API: authorization failed", "request_id", httpx.RequestIDFrom(ctx), "error", err)
	// RFC 6750 §3.1: a request without credentials gets no error code.
	challenge := `Bearer scope="` + client.ScopeAdmin + `"`
	if r.Header.Get("Authorization") != "" {
		challenge = `Bearer error="invalid_token", scope="` + client.ScopeAdmin + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	httpx.WriteError(w, http.StatusUnauthorized, "invalid_token",
		"send a valid Bearer access token from the token endpoint (client_credentials grant, scope "+client.ScopeAdmin+")")
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		httpx.WriteError(w, http.StatusMethodNotAllowed, CodeInvalidRequest, "method "+r.Method+" is not allowed here; use "+allow)
	}
}

// readMetadata reads the request's body as client metadata. When it
// cannot, it answers the request itself and returns what was wrong, for
// the log (never the body).
func readMetadata(w http.ResponseWriter, r *http.Request) (c client.Client, problem string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		httpx.WriteError(w, http.StatusUnsupportedMediaType, CodeInvalidRequest, "send the client metadata as Content-Type: application/json")
		return client.Client{}, "content type"
	}
	tooLarge := "the body is larger than " + strconv.Itoa(MaxBodySize) + " bytes"
	if r.ContentLength > MaxBodySize {
		httpx.WriteError(w, http.StatusRequestEntityTooLarge, CodeInvalidRequest, tooLarge)
		return client.Client{}, "body too large"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if httpx.IsBodyTooLarge(err) {
		httpx.WriteError(w, http.StatusRequestEntityTooLarge, CodeInvalidRequest, tooLarge)
		return client.Client{}, "body too large"
	}
	if err != nil {
		httpx.WriteError(w, http.StatusBadRequest, CodeInvalidRequest, "the body could not be read")
		return client.Client{}, "body unreadable"
	}
	c, err = client.ParseMetadata(body)
	if err != nil {
		writeMetadataError(w, err)
		return client.Client{}, fieldOf(err)
	}
	return c, ""
}

// writeMetadataError answers a *client.ValidationError as RFC 7591 §3.2.2
// says: 400, the code, and the field with what to change.
func writeMetadataError(w http.ResponseWriter, err error) {
	var verr *client.ValidationError
	if !errors.As(err, &verr) {
		verr = &client.ValidationError{Field: "metadata", Msg: "is not acceptable"}
	}
	httpx.WriteError(w, http.StatusBadRequest, verr.Code(), verr.Description())
}

// clientJSON is a client as the API shows it: its metadata (never the
// secret hash), client_id_issued_at (RFC 7591 §3.2.1), and client_secret
// when one was just issued.
func clientJSON(c client.Client, secret string) ([]byte, error) {
	b, err := c.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("admin: client %s: metadata is not a JSON object", c.ClientID)
	}
	extra := `"client_id_issued_at":` + strconv.FormatInt(c.CreatedAt.Unix(), 10)
	if secret != "" {
		extra += `,"client_secret":` + strconv.Quote(secret) // base64url: nothing to escape
	}
	if len(b) > 2 {
		extra = "," + extra
	}
	return append(append(b[:len(b)-1:len(b)-1], extra...), '}'), nil
}

// serverError logs the cause and answers 500 without it.
func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, action string, err error) {
	ctx := r.Context()
	h.log.ErrorContext(ctx, "admin API: "+action+" failed", "request_id", httpx.RequestIDFrom(ctx), "error", err)
	httpx.WriteError(w, http.StatusInternalServerError, CodeServerError, "the request could not be completed; try again later")
}

// logChange records a change made through the API: who, what, to which
// client. Never a secret: only whether one was issued.
func (h *Handler) logChange(r *http.Request, action, clientID string, caller client.Client, secretIssued bool) {
	ctx := r.Context()
	h.log.InfoContext(ctx, "admin API: client changed", "action", action, "client_id", clientID,
		"admin_client_id", caller.ClientID, "secret_issued", secretIssued, "request_id", httpx.RequestIDFrom(ctx))
}

// logRefused records a change the API refused, for the audit trail.
func (h *Handler) logRefused(r *http.Request, action, clientID string, caller client.Client, why string) {
	ctx := r.Context()
	h.log.InfoContext(ctx, "admin API: change refused", "action", action, "client_id", clientID,
		"admin_client_id", caller.ClientID, "reason", why, "request_id", httpx.RequestIDFrom(ctx))
}
