// Package client is the OpenID Provider's registry of relying parties: the
// departments' services, the banks and eidp's own relying-party modules.
// Every authorization, token, PAR, logout and admin request starts by
// looking its client up here, so this is where a client's permissions are
// decided once and checked before they are stored: which redirect URIs it
// may use, how it authenticates, which grants and scopes it may ask for,
// how its ID tokens are signed and which subject identifiers it sees.
//
// # Metadata
//
// A Client carries the registered metadata under the names of RFC 7591 §2
// (OAuth 2.0 Dynamic Client Registration) and OpenID Connect Dynamic Client
// Registration 1.0 §2, plus require_pushed_authorization_requests (RFC 9126
// §6), backchannel_logout_uri and backchannel_logout_session_required
// (OpenID Connect Back-Channel Logout 1.0 §2.2) and post_logout_redirect_uris
// (OpenID Connect RP-Initiated Logout 1.0 §3.1). An operator can therefore
// write a client's metadata as any RFC 7591 client would send it, and a
// future registration endpoint can take the same document. eidp adds
// allow_id_card (may the client be given the eidp:idcard scope, the
// resident's identity-card number) and admin (may be given the eidp:admin
// scope, client.ScopeAdmin, for the admin API in idp/admin).
//
// # What residents see
//
// The consent page names the service (client_name), shows its logo
// (logo_uri) and links to its home page, privacy policy and terms
// (client_uri, policy_uri, tos_uri; RFC 7591 §2). These URLs are absolute,
// without a fragment, and https (http only on loopback in development, as
// for jwks_uri). eidp adds eidp_purpose: one plain-text sentence, 1 to 300
// characters, saying why the service asks for the resident's personal data.
//
// Residents read eidp in English or Traditional Chinese, so client_name and
// eidp_purpose each have one RFC 7591 §2.2 language-tagged variant,
// client_name#zh-Hant and eidp_purpose#zh-Hant, under the same rules; the
// untagged value is the English one and the fallback (Client.Localized
// picks). Tags compare without regard to case (RFC 5646 §2.1.1). Any other
// tag (client_name#fr, logo_uri#zh-Hant) is refused with an error naming it
// instead of being dropped, so that an operator never believes a
// translation is shown when it is not. Human-readable values are one line
// of text: control characters, line separators and bidirectional-override
// characters are refused.
//
// Validate checks every field and refuses impossible combinations, with a
// ValidationError that names the field, says what to change, and maps to the
// RFC 7591 §3.2.2 error codes (invalid_redirect_uri,
// invalid_client_metadata). Redirect URIs follow RFC 6749 §3.1.2 (absolute,
// no fragment) and RFC 8252 for native apps (§7.1 private-use schemes, §7.3
// loopback, §8.3 loopback only in development here); they are stored exactly
// as given, because they are later matched exactly. Clients get pairwise
// subject identifiers by default (OpenID Connect Core §8), public ones only
// when an operator says so.
//
// # Secrets
//
// client_secret_basic and client_secret_post clients (RFC 6749 §2.3.1) get a
// secret that eidp generates: 32 random bytes, shown once, stored only as its
// SHA-256 hash (a 256-bit random value needs no slow hash). VerifySecret
// answers ErrInvalidClient alike for an unknown client and a wrong secret, so
// that the token endpoint cannot be used to find client IDs.
//
// Table: oauth_clients (migrations/*/0004_clients.sql).
package client
