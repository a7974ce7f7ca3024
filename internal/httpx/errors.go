package httpx

import (
	"encoding/json"
	"net/http"
)

// ErrorBody is the JSON error shape of every eidp API (RFC 6749 §5.2).
type ErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// WriteError writes a JSON error. description must be safe to show to the
// client: causes belong in the log, not here.
func WriteError(w http.ResponseWriter, status int, code, description string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(ErrorBody{Error: code, ErrorDescription: description})
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
