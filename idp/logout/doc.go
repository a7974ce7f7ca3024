// Package logout tells relying parties that a resident's session at eidp has
// ended, by OpenID Connect Back-Channel Logout 1.0: each client that had a
// grant in the session and registered a backchannel_logout_uri (§2.2) gets a
// Logout Token (§2.4) in an HTTP POST from eidp's servers (§2.5).
//
// The resident's logout never waits on a relying party: Enqueue only writes
// one row per client to oidc_logout_deliveries (migrations/*/0006_oidc.sql),
// and a background loop (Run, on every node) delivers them. A delivery is
// claimed in a transaction before it is sent, so that two nodes do not send
// the same row at once; it is deleted when the RP answers 2xx (§2.8: 200 OK,
// or 204 from frameworks that substitute it), and otherwise retried with
// exponential backoff until MaxAttempts, then dropped with a warning in the
// log. Deleting a client deletes its pending deliveries (foreign key).
//
// The Logout Token carries iss, aud (the client_id), iat, exp (two minutes
// later), a random jti, the back-channel logout event, sub and, when known,
// sid — both as that client knows them, so pairwise (OpenID Connect Core
// §8.1) — and never a nonce (§2.4: it keeps the token from passing as an ID
// token). It is explicitly typed "logout+jwt" (§2.4, §4.1 against cross-JWT
// confusion) and signed like the client's ID tokens, with its
// id_token_signed_response_alg, afresh at each attempt.
//
// Outbound requests go through internal/fetch (PostForm): https only in
// production, no private addresses unless allowed, bounded in time, no
// redirects. Logs and stored errors name the client, never the token.
package logout
