// Package claims decides which facts about a resident a relying party may
// ask for, parses how it asks, and produces the values that go into ID
// tokens and UserInfo responses (OpenID Connect Core 1.0 §5).
//
// It is pure: no database, no HTTP. The provider calls Requested to build the
// consent page's list of Items, stores what the resident agreed to (package
// consent) and the narrowed claims request (Request.Only) in the grant, and
// calls Values when it signs an ID token or answers UserInfo.
//
// # Claims released and where their values come from
//
// Every value comes from the resident's account (account.Resident), which is
// a copy of the civil register taken at registration; nothing is
// self-asserted.
//
//   - name (Core §5.1): the English name as the identity card prints it,
//     surname first and in capitals, then the given names: "CHAN Tai Man".
//     Surname first is the order of the Hong Kong register and of every
//     official document, and the capitals show which part is the surname;
//     relying parties that need the parts read given_name and family_name.
//     The value does not change with the resident's language, so a relying
//     party always sees the same name.
//   - given_name, family_name (Core §5.1): Profile.GivenNames and
//     Profile.Surname exactly as the register has them.
//   - name#zh-Hant (Core §5.2, a language-tagged name): the Chinese name,
//     Profile.NameZH, in Traditional Chinese script. Omitted when the
//     register has no Chinese name. A request for the tag in another letter
//     case ("name#zh-hant") is the same claim: BCP 47 tags are
//     case-insensitive (RFC 5646 §2.1.1).
//   - birthdate (Core §5.1): Profile.BirthDate, YYYY-MM-DD.
//   - gender (Core §5.1): "male" for register value M, "female" for F, and
//     "unspecified" for X. Core §5.1 defines female and male and allows
//     other values "when neither of the defined values are applicable";
//     X on a Hong Kong record means the sex is not specified, hence
//     "unspecified". Any other register value is not released.
//   - locale (Core §5.1): the BCP 47 tag of the language the resident chose
//     at login or consent ("en" or "zh-Hant"), not a register field.
//   - eidp_id_number (eidp's own claim): the Hong Kong Identity Card
//     number, formatted as the card prints it, "A123456(3)". It identifies a
//     resident across every service, which pairwise subject identifiers
//     exist to prevent, so it is released only under scope eidp:idcard and
//     only to clients registered with allow_id_card (client.ScopeIDCard,
//     client.Client.AllowIDCard), whether asked for by scope or by the
//     claims parameter.
//
// Claims without a value are omitted, never released empty (Core §5.3.2).
//
// # Scopes and the claims parameter
//
// Scope "profile" asks for name, given_name, family_name, name#zh-Hant,
// birthdate, gender and locale; scope "eidp:idcard" for eidp_id_number.
// Claims asked for by scope are Voluntary and returned from UserInfo (Core
// §5.4; eidp only issues codes, so an access token is always issued).
// The claims parameter (Core §5.5) asks for individual claims in the ID
// token, in UserInfo or both, each Voluntary (null) or Essential; ParseRequest
// reads it, bounded to MaxRequestSize, ignoring members it does not
// understand as §5.5 requires, and refusing anything else malformed.
// Requested merges both into Items in a fixed display order, dropping claims
// eidp does not release.
//
// # Authentication context
//
// SatisfiesACR and EssentialACR apply the acr rules of Core §3.1.2.1
// (acr_values) and §5.5.1.1 (an Essential acr request) to eidp's levels
// (proofing.Level.ACR): urn:eidp:acr:high satisfies a request for
// urn:eidp:acr:substantial or urn:eidp:acr:high, urn:eidp:acr:substantial
// only itself, and values eidp does not define are never satisfied.
package claims
