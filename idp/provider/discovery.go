package provider

import (
	"encoding/json"
	"net/http"
	"slices"

	jose "github.com/go-jose/go-jose/v4"

	"eidp/idp/claims"
	"eidp/idp/client"
	"eidp/vault/attr"
)

// clientAuthAlgs are the JWS algorithms we accept for client assertions
// and request objects (see idp/clientauth).
var clientAuthAlgs = []string{"ES256", "ES384", "PS256", "RS256", "EdDSA"}

// discovery serves OpenID Provider Metadata (OIDC Discovery 1.0 §3, RFC
// 8414, RFC 9126 §5, RFC 9207 §3, Back-Channel Logout §2.1, RP-Initiated
// Logout §3). Only what is implemented is advertised.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	algs, err := p.Keys.SigningAlgorithms(r.Context())
	if err != nil {
		p.log.ErrorContext(r.Context(), "discovery: signing keys", "err", err)
		writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "signing keys unavailable")
		return
	}
	idAlgs := []string{}
	for _, a := range algs {
		if a == jose.ES256 || a == jose.RS256 || a == jose.PS256 {
			idAlgs = append(idAlgs, string(a))
		}
	}
	authMethods := []string{client.AuthPrivateKeyJWT, client.AuthClientSecretBasic, client.AuthClientSecretPost, client.AuthNone}
	confidential := authMethods[:3]
	supported := append([]string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash"}, claims.Supported()...)
	if p.Vault == nil {
		supported = slices.DeleteFunc(supported, claims.IsVault)
	} else {
		supported = append(supported, "eidp_provenance")
	}
	doc := map[string]any{
		"issuer":                                                   p.opts.Issuer,
		"authorization_endpoint":                                   p.url(PathAuthorize),
		"token_endpoint":                                           p.url(PathToken),
		"userinfo_endpoint":                                        p.url(PathUserinfo),
		"jwks_uri":                                                 p.url(PathJWKS),
		"pushed_authorization_request_endpoint":                    p.url(PathPAR),
		"require_pushed_authorization_requests":                    p.opts.RequirePAR,
		"introspection_endpoint":                                   p.url(PathIntrospect),
		"revocation_endpoint":                                      p.url(PathRevoke),
		"end_session_endpoint":                                     p.url(PathEndSession),
		"scopes_supported":                                         []string{scopeOpenID, "profile", scopeOffline, client.ScopeIDCard},
		"response_types_supported":                                 []string{"code"},
		"response_modes_supported":                                 []string{"query"},
		"grant_types_supported":                                    []string{client.GrantAuthorizationCode, client.GrantRefreshToken, client.GrantClientCredentials},
		"acr_values_supported":                                     levelACRs(),
		"subject_types_supported":                                  []string{client.SubjectPairwise, client.SubjectPublic},
		"id_token_signing_alg_values_supported":                    idAlgs,
		"request_object_signing_alg_values_supported":              clientAuthAlgs,
		"token_endpoint_auth_methods_supported":                    authMethods,
		"token_endpoint_auth_signing_alg_values_supported":         clientAuthAlgs,
		"introspection_endpoint_auth_methods_supported":            confidential,
		"introspection_endpoint_auth_signing_alg_values_supported": clientAuthAlgs,
		"revocation_endpoint_auth_methods_supported":               authMethods,
		"revocation_endpoint_auth_signing_alg_values_supported":    clientAuthAlgs,
		"claim_types_supported":                                    []string{"normal"},
		"claims_supported":                                         supported,
		"claims_parameter_supported":                               true,
		"request_parameter_supported":                              true,
		"request_uri_parameter_supported":                          false,
		"ui_locales_supported":                                     []string{"en", "zh-Hant"},
		"claims_locales_supported":                                 []string{"en", "zh-Hant"},
		"code_challenge_methods_supported":                         []string{"S256"},
		"prompt_values_supported":                                  promptValues,
		"authorization_response_iss_parameter_supported":           true,
		"backchannel_logout_supported":                             true,
		"backchannel_logout_session_supported":                     true,
		"frontchannel_logout_supported":                            false,
	}
	if p.Signing != nil {
		// RFC 9396 §10: the authorization details types we accept.
		doc["authorization_details_types_supported"] = []string{authzDetailsType}
		doc["scopes_supported"] = append(doc["scopes_supported"].([]string), scopeCredential, scopeService)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	json.NewEncoder(w).Encode(doc)
}

// vaultScopes are the scopes that release vault attributes, when the
// vault is wired.
func (p *Provider) vaultScopes() []string {
	if p.Vault == nil {
		return nil
	}
	return attr.Scopes()
}
