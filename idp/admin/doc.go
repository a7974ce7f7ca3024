// Package admin is eidp's admin API: an HTTP JSON API through which
// operators' tooling registers and manages relying parties, the same
// operations as `eidp clients` on the command line.
//
// Clients are written and read as RFC 7591 §2 client metadata (OAuth 2.0
// Dynamic Client Registration), the JSON form of client.Client, checked by
// client.ParseMetadata (unknown names refused) and client.Validate. The
// routes follow RFC 7591 and RFC 7592 (Dynamic Client Registration
// Management) where they overlap:
//
//	POST   /admin/clients              register; 201 with the RFC 7591 §3.2.1 response
//	GET    /admin/clients              list
//	GET    /admin/clients/{id}         read (RFC 7592 §2.1)
//	PUT    /admin/clients/{id}         replace the metadata (RFC 7592 §2.2: fields left out take their defaults)
//	DELETE /admin/clients/{id}         remove (RFC 7592 §2.3); 204
//	POST   /admin/clients/{id}/secret  issue a new client secret; the old one stops working
//
// A new client secret is in the response that issues it and nowhere else:
// eidp keeps only its hash. Invalid metadata gets 400 with the RFC 7591
// §3.2.2 codes invalid_redirect_uri or invalid_client_metadata and an
// error_description naming the field; an unknown client gets 404 not_found.
//
// The caller authenticates with a Bearer access token (RFC 6750 §2.1)
// obtained from eidp's token endpoint by the client-credentials grant
// (RFC 6749 §4.4) with scope eidp:admin, by a client registered with
// admin: true. The provider checks the token (the Authorize function);
// failures are answered as RFC 6750 §3 describes: 401 with
// WWW-Authenticate error="invalid_token" (no error code when the request
// carries no credentials at all, §3.1), 403 insufficient_scope for a
// client that is not an admin.
//
// Every response carries Cache-Control: no-store (RFC 6749 §5.1, as it may
// hold a secret). Request bodies are JSON (else 415) of at most 64 KiB
// (else 413). Every change is logged with the client, the admin client and
// the action, never with a secret.
package admin
