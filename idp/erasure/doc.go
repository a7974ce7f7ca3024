// Package erasure deletes a resident's account on their request, in the
// order that keeps every promise made to them:
//
//  1. The vault is crypto-shredded (vault.Erase): the data key goes, so the
//     ciphertexts left in this database (its free pages, its WAL) can no
//     longer be decrypted. A backup taken before holds its own copy of the
//     wrapped data key: it stays decryptable until the vault-kek key that
//     wrapped it is destroyed after a KEK rotation and rewrap (eidp vault
//     rotate-kek); the vault package's documentation says how that bounds
//     a backup's life.
//  2. Every login session ends (session.Manager.RevokeAll): the OpenID
//     Provider revokes the grants of those sessions and queues back-channel
//     logout notices, so services log the resident out.
//  3. The account row is deleted; the database's cascades remove passkeys,
//     sessions, recovery codes, the activity log, consents, grants, codes,
//     refresh tokens and the vault's rows.
//
// What stays: the vault access log (vault/accesslog) — which service read
// which attribute names when, under the resident's opaque internal ID, with
// no personal value — because it is the record of what was released, and
// the queued back-channel logout notices (a client ID, the pairwise subject
// and sid that client already knew), until they are delivered.
package erasure
