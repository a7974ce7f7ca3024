package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"eidp/idp/client"
	"eidp/internal/httpx"
)

// create: POST /admin/clients registers a client (RFC 7591 §3.1) and answers
// 201 with RFC 7591 §3.2.1's response: the stored metadata, client_id,
// client_id_issued_at, and for secret-based methods client_secret (shown
// this once) with client_secret_expires_at 0. A client_id in the body is
// the one requested, as with `eidp clients create --id`.
func (h *Handler) create(w http.ResponseWriter, r *http.Request, caller client.Client) {
	c, problem := readMetadata(w, r)
	if problem != "" {
		h.logRefused(r, "create", "", caller, problem)
		return
	}
	if !h.checkSector(w, r, c, nil) {
		h.logRefused(r, "create", c.ClientID, caller, "sector_identifier_uri")
		return
	}
	created, secret, err := h.clients.Create(r.Context(), c)
	switch {
	case errors.Is(err, client.ErrExists):
		h.logRefused(r, "create", c.ClientID, caller, "client_id taken")
		httpx.WriteError(w, http.StatusConflict, client.CodeInvalidClientMetadata,
			fmt.Sprintf("client_id: %q is already registered; choose another, or leave client_id out to get a random one", c.ClientID))
		return
	case errors.Is(err, client.ErrInvalidMetadata):
		h.logRefused(r, "create", c.ClientID, caller, fieldOf(err))
		writeMetadataError(w, err)
		return
	case err != nil:
		h.serverError(w, r, "create", err)
		return
	}
	h.logChange(r, "create", created.ClientID, caller, secret != "")
	w.Header().Set("Location", "/admin/clients/"+url.PathEscape(created.ClientID))
	h.writeClient(w, r, http.StatusCreated, created, secret)
}

// list: GET /admin/clients answers {"clients": [...]}, oldest first.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, _ client.Client) {
	clients, err := h.clients.List(r.Context())
	if err != nil {
		h.serverError(w, r, "list", err)
		return
	}
	out := struct {
		Clients []json.RawMessage `json:"clients"`
	}{Clients: make([]json.RawMessage, 0, len(clients))}
	for _, c := range clients {
		b, err := clientJSON(c, "")
		if err != nil {
			h.serverError(w, r, "list", err)
			return
		}
		out.Clients = append(out.Clients, b)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// get: GET /admin/clients/{id} answers the client's metadata (RFC 7592 §2.1).
func (h *Handler) get(w http.ResponseWriter, r *http.Request, _ client.Client) {
	id := r.PathValue("id")
	c, err := h.clients.Get(r.Context(), id)
	if err != nil {
		h.storeError(w, r, "get", id, err)
		return
	}
	h.writeClient(w, r, http.StatusOK, c, "")
}

// replace: PUT /admin/clients/{id} replaces the client's metadata with the
// body (RFC 7592 §2.2): fields left out take their defaults, not their old
// values. A client_id in the body must be the one in the path. The secret
// is kept, unless the client stops using one (it is dropped) or starts
// using one (a new one is in the response, shown this once).
func (h *Handler) replace(w http.ResponseWriter, r *http.Request, caller client.Client) {
	id := r.PathValue("id")
	c, problem := readMetadata(w, r)
	if problem != "" {
		h.logRefused(r, "update", id, caller, problem)
		return
	}
	if c.ClientID != "" && c.ClientID != id {
		h.logRefused(r, "update", id, caller, "client_id")
		httpx.WriteError(w, http.StatusBadRequest, client.CodeInvalidClientMetadata,
			fmt.Sprintf("client_id: the body names %q but the URL %q; they must match (RFC 7592 §2.2), or leave client_id out", c.ClientID, id))
		return
	}
	c.ClientID = id
	if h.CheckSectorIdentifier != nil && c.SectorIdentifierURI != "" {
		old, err := h.clients.Get(r.Context(), id)
		if err != nil {
			h.storeError(w, r, "update", id, err)
			return
		}
		if !h.checkSector(w, r, c, &old) {
			h.logRefused(r, "update", id, caller, "sector_identifier_uri")
			return
		}
	}
	updated, secret, err := h.clients.Update(r.Context(), c)
	if errors.Is(err, client.ErrInvalidMetadata) {
		h.logRefused(r, "update", id, caller, fieldOf(err))
		writeMetadataError(w, err)
		return
	}
	if err != nil {
		h.storeError(w, r, "update", id, err)
		return
	}
	h.logChange(r, "update", id, caller, secret != "")
	h.writeClient(w, r, http.StatusOK, updated, secret)
}

// delete: DELETE /admin/clients/{id} removes the client (RFC 7592 §2.3): 204.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request, caller client.Client) {
	id := r.PathValue("id")
	if err := h.clients.Delete(r.Context(), id); err != nil {
		h.storeError(w, r, "delete", id, err)
		return
	}
	h.logChange(r, "delete", id, caller, false)
	w.WriteHeader(http.StatusNoContent)
}

// rotateSecret: POST /admin/clients/{id}/secret issues a new secret,
// answered this once, and the old one stops working at once. The request
// has no body (any is ignored). 409 no_secret for a client that
// authenticates otherwise.
func (h *Handler) rotateSecret(w http.ResponseWriter, r *http.Request, caller client.Client) {
	id := r.PathValue("id")
	secret, err := h.clients.RotateSecret(r.Context(), id)
	if errors.Is(err, client.ErrNoSecret) {
		h.logRefused(r, "rotate-secret", id, caller, "no secret")
		httpx.WriteError(w, http.StatusConflict, CodeNoSecret,
			fmt.Sprintf("client %q does not authenticate with a client secret, so it has none to rotate", id))
		return
	}
	if err != nil {
		h.storeError(w, r, "rotate-secret", id, err)
		return
	}
	h.logChange(r, "rotate-secret", id, caller, true)
	httpx.WriteJSON(w, http.StatusOK, struct {
		ClientID              string `json:"client_id"`
		ClientSecret          string `json:"client_secret"`
		ClientSecretExpiresAt int64  `json:"client_secret_expires_at"`
	}{id, secret, 0})
}

// checkSector runs CheckSectorIdentifier for c when it is set, c has a
// sector_identifier_uri, and either it or the redirect URIs differ from old
// (nil: a new client). It answers the request itself when it returns false.
func (h *Handler) checkSector(w http.ResponseWriter, r *http.Request, c client.Client, old *client.Client) bool {
	if h.CheckSectorIdentifier == nil || c.SectorIdentifierURI == "" {
		return true
	}
	if old != nil && old.SectorIdentifierURI == c.SectorIdentifierURI && slices.Equal(old.RedirectURIs, c.RedirectURIs) {
		return true
	}
	if err := h.CheckSectorIdentifier(r.Context(), c.SectorIdentifierURI, c.RedirectURIs); err != nil {
		if errors.Is(err, context.Canceled) {
			h.serverError(w, r, "sector identifier check", err)
			return false
		}
		httpx.WriteError(w, http.StatusBadRequest, client.CodeInvalidClientMetadata, "sector_identifier_uri: "+err.Error())
		return false
	}
	return true
}

// storeError answers an error of the Store for client id.
func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, action, id string, err error) {
	if errors.Is(err, client.ErrNotFound) {
		httpx.WriteError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("no client has the ID %q", id))
		return
	}
	h.serverError(w, r, action, err)
}

func (h *Handler) writeClient(w http.ResponseWriter, r *http.Request, status int, c client.Client, secret string) {
	b, err := clientJSON(c, secret)
	if err != nil {
		h.serverError(w, r, "encode", err)
		return
	}
	httpx.WriteJSON(w, status, json.RawMessage(b))
}

// fieldOf names the metadata field a validation error is about, for logs.
func fieldOf(err error) string {
	var verr *client.ValidationError
	if errors.As(err, &verr) {
		return verr.Field
	}
	return "metadata"
}
