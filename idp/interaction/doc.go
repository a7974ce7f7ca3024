// Package interaction is the contract between the OpenID Provider
// (idp/provider) and the resident-facing pages (web/) for the moments an
// authorization request needs the resident: consent to release claims to a
// relying party, the list of consents on the account page, and withdrawing
// one. It holds types and one interface only, so that web/ and the provider
// do not import each other.
//
// The browser's path through an authorization:
//
//	RP → /authorize (provider) ──no usable session──▶ /login?next=/authorize/resume?id=ID (web)
//	   ──passkey login──▶ /authorize/resume?id=ID (provider)
//	   ──consent needed──▶ /consent?id=ID (web: Service.Consent, then Approve or Deny)
//	   ──▶ redirect_uri?code=…&state=…&iss=…
package interaction
