// Package attr is the catalogue of the personal data a resident may keep in
// the vault: which attributes exist, the shape of each value, how a value
// is checked and normalised (with messages in English and Traditional
// Chinese), how it is shown to the resident and on the consent page, and
// how it is released to relying parties as OpenID Connect claims.
//
// It is pure: no database, no HTTP, no keys. The vault stores what
// Validate returns (encrypted, with SchemaVersion bound into the
// ciphertext's associated data, and with its provenance: source and
// verified); web/ builds its forms from Fields, FieldLabel and Options
// and shows Errors' messages; the provider maps scopes and the claims
// parameter to attributes (ScopeNames, ByClaim), shows Preview on the
// consent page and releases ClaimValue.
//
// Every value is self-declared by the resident unless its provenance says
// otherwise; this package checks form, never truth.
//
// # Attributes
//
// Values are JSON. Validate trims and collapses white space in every text
// (line breaks included, except between the lines of a free-text address),
// refuses control characters, invisible formatting characters (Unicode
// Cf: bidirectional overrides, zero-width characters, which could make one
// text look like another on the consent page) and U+FFFD, and returns the
// canonical JSON, on which Validate is the identity. Lengths are counted in
// characters (code points).
//
//   - residential_address, correspondence_address: an Address object,
//     either structured or free text, never both (address_mixed).
//     Structured, the way Hong Kong addresses are written: flat, floor,
//     block (the identifier alone, "A", "12", "3": Display adds "Flat A",
//     "12/F", "Block 3" or "A室", "12樓", "3座"; floor "G" is "G/F", "地下"),
//     building, estate, street_number, street, district and region. It
//     needs a building, or a street with its number (address_incomplete;
//     a number without its street is street_missing), and a district. The
//     district is one of the 18 districts of the District Councils
//     Ordinance (Cap. 547, Schedule 1), by code; region is one of
//     hk-island, kowloon, new-territories, derived from the district when
//     omitted, refused when it disagrees (region_mismatch). Codes are
//     matched without regard to case and stored canonical. flat, floor,
//     block, street_number ≤ 20 characters; building, estate, street ≤ 100.
//     Free text (free_text alone: an address abroad, or one the fields do
//     not fit): ≤ 6 non-empty lines, ≤ 300 characters. The districts:
//
//     Hong Kong Island 香港島 (hk-island): central-western Central and
//     Western 中西區, wan-chai Wan Chai 灣仔區, eastern Eastern 東區,
//     southern Southern 南區.
//     Kowloon 九龍 (kowloon): yau-tsim-mong Yau Tsim Mong 油尖旺區,
//     sham-shui-po Sham Shui Po 深水埗區, kowloon-city Kowloon City 九龍城區,
//     wong-tai-sin Wong Tai Sin 黃大仙區, kwun-tong Kwun Tong 觀塘區.
//     New Territories 新界 (new-territories): kwai-tsing Kwai Tsing 葵青區,
//     tsuen-wan Tsuen Wan 荃灣區, tuen-mun Tuen Mun 屯門區, yuen-long Yuen
//     Long 元朗區, north North 北區, tai-po Tai Po 大埔區, sha-tin Sha Tin
//     沙田區, sai-kung Sai Kung 西貢區, islands Islands 離島區.
//
//   - mobile_phone, other_phone: a string, stored in E.164 form
//     ("+85291234567"). Spaces, hyphens, dots, parentheses and full-width
//     digits are read through ("9123 4567", "+852 9123-4567", "＋８５２
//     ９１２３４５６７"). A bare 8-digit number is a Hong Kong number (Hong
//     Kong has a closed 8-digit plan with no trunk prefix); any other
//     number starts with + and has 8 to 15 digits in all (ITU-T E.164 caps
//     numbers at 15 digits; no country code begins with 0). A resident's
//     mobile may be foreign, so mobile_phone accepts any such number; for
//     +852 the Hong Kong rules apply:
//
//     The Hong Kong numbering plan (OFCA, "Numbering Plan for
//     Telecommunications Services in Hong Kong") gives every subscriber 8
//     digits. Fixed lines begin with 2 or 3. Mobile numbers began with 5,
//     6 and 9; the Communications Authority's Statement "More Efficient
//     Utilisation of the 8-digit Numbering Plan" (June 2016) released
//     vacant blocks of the 4, 7 and 8 levels to mobile services from
//     1 July 2017 (OFCA press release, 5 February 2018: "new mobile numbers
//     with leading digits '4', '7' and '8'"), while those levels also hold
//     paging (7) and personal numbering (81–83) blocks. Which block is
//     mobile changes with OFCA's allocations; a stale copy of that table
//     would refuse real numbers, so eidp checks the level, not the block: a
//     Hong Kong mobile number has 8 digits and begins with 4, 5, 6, 7, 8
//     or 9 (phone_hk_mobile); any Hong Kong number (other_phone, an
//     emergency contact's phone) has 8 digits and begins with 2 to 9
//     (phone_hk). Numbers beginning 800 (toll-free, 9 digits) or 900
//     (premium rate) are not subscriber numbers and are refused; 1 begins
//     service codes. Other malformed input is phone_format.
//
//   - email: a string, the practical subset of the RFC 5322 §3.4.1
//     addr-spec that mail is sent to: a dot-atom local part (§3.2.3; no
//     quoted strings or comments), @, and a domain of at least two labels
//     of ASCII letters, digits and hyphens (RFC 1035 §2.3.1, RFC 1123
//     §2.1; labels ≤ 63, an internationalised domain in its xn-- form, no
//     address literals) whose last label begins with a letter. The local
//     part is ≤ 64 octets (RFC 5321 §4.5.3.1.1; email_local_too_long), the
//     address ≤ 254 (the 256-octet path of §4.5.3.1.3 less its brackets,
//     RFC 3696 erratum 1690). The domain is stored in lower case; the
//     local part as typed (only the receiving host may read its case,
//     RFC 5321 §2.4).
//
//   - preferred_language: "en" or "zh-Hant" (BCP 47; case-insensitive on
//     input).
//
//   - education_level: the highest level attended, in the Census and
//     Statistics Department's categories of educational attainment with
//     degrees split in two: no_schooling (no schooling / pre-primary),
//     primary, lower_secondary (S1–S3), upper_secondary (S4–S6),
//     post_secondary (non-degree: diploma, certificate, associate degree,
//     higher diploma), bachelor, postgraduate.
//
//   - occupation: free text, one line, ≤ 100 characters.
//
//   - marital_status: the census categories single (never married),
//     married, separated, divorced, widowed, and civil_partnership for a
//     partnership registered where that status exists (Hong Kong law has
//     none of its own; a form knowing only the five maps it as it sees
//     fit).
//
//   - emergency_contact: a Contact object {name (≤ 100), relationship
//     (spouse, partner, parent, child, sibling, relative, friend, carer,
//     other), phone (as other_phone: any E.164 number, Hong Kong rules for
//     +852)}, all three required.
//
// Errors: Validate returns *Errors, a list of *FieldError, one per problem,
// each naming the field ("" for the whole value) and a code (the Code
// constants). FieldError.Message gives a sentence in English or
// Traditional Chinese, naming the field by its label. No message, and no
// error string, ever contains the value refused: messages are fixed
// sentences whose only placeholders are the field's label and limits.
//
// # Display and preview
//
// Display writes a value on one line for its owner: English addresses from
// the flat outwards, comma-separated; Chinese ones from the region inwards,
// run together ("香港島灣仔區皇后大道中123號陽光閣3座12樓A室"), as Hong Kong
// writes each. Preview is what a consent page shows: enough to recognise
// which value would go, not the value — phones "+852 9•••• 567", email
// "c•••n@example.com", an address its building or street (without the
// number) and district; Preview's comment has the full rule.
//
// # OpenID Connect
//
// Each attribute is released by one scope and as one claim (OpenID
// Connect Core 1.0 §5.4 for the scopes, §5.1 for the claims; the claims
// parameter, §5.5, asks for the same claim names). The standard scopes
// and claims are used where Core defines them; the rest are eidp's own, in
// the eidp: scope and eidp_ claim namespaces that eidp:idcard and
// eidp_id_number (package idp/claims) started:
//
//	scope                        claim                          attribute
//	address                      address                        residential_address
//	eidp:correspondence_address  eidp_correspondence_address    correspondence_address
//	phone                        phone_number (+ _verified)     mobile_phone
//	eidp:other_phone             eidp_other_phone               other_phone
//	email                        email (+ email_verified)       email
//	eidp:preferred_language      eidp_preferred_language        preferred_language
//	eidp:education               eidp_education_level           education_level
//	eidp:occupation              eidp_occupation                occupation
//	eidp:marital_status          eidp_marital_status            marital_status
//	eidp:emergency_contact       eidp_emergency_contact         emergency_contact
//
// The standard locale claim is not preferred_language: idp/claims releases
// it as the language of the login. phone_number_verified and
// email_verified (VerifiedClaim) come from the attribute's provenance,
// which the vault holds. ClaimValue gives the released value: the address
// as the §5.1.1 Address Claim (formatted, street_address, locality = the
// district, region, country "HK", no postal_code, since Hong Kong has
// none; plus eidp_hk with the structured fields and codes), phone numbers
// in E.164, options by value.
package attr
