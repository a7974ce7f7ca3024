package provider

import (
	"errors"
	"net/http"

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
