// Package session keeps residents' login sessions on the server, in the
// database, so that any eidp node behind the load balancer can serve any
// request and a resident can see and end their sessions from the account
// page.
//
// The browser holds only a random bearer token in a cookie (HttpOnly,
// SameSite=Lax, Secure behind HTTPS); the sessions table holds its SHA-256
// hash, so a copy of the database logs nobody in. Each session also has a
// separate random ID, a public handle that is safe to show and to post in a
// revoke form. A session ends when revoked, after IdleTimeout without a
// request, or at AbsoluteTimeout after login however active it is; expired
// sessions are marked revoked when next seen.
//
// A session records how the resident authenticated — ACR and RFC 8176 AMR
// values (AMRForPasskey) and the auth time — for ID tokens (OIDC Core §2:
// acr, amr, auth_time).
//
// Table: sessions (migrations/*/0002_residents.sql).
package session
