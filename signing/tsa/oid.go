package tsa

import (
	"crypto/x509"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Policies are x509.OIDs rather than asn1.ObjectIdentifiers because a
// policy in the UUID arc 2.25 (ITU-T X.667) has a 128-bit component,
// which asn1.ObjectIdentifier ([]int) cannot hold.

// oidSet reports whether oid is not the zero OID.
func oidSet(oid x509.OID) bool { return oid.String() != "" }

// addOID writes oid as a DER OBJECT IDENTIFIER.
func addOID(b *cryptobyte.Builder, oid x509.OID) {
	der, err := oid.MarshalBinary()
	if err != nil {
		b.SetError(err)
		return
	}
	b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(der) })
}

// readOID reads a DER OBJECT IDENTIFIER of any size.
func readOID(s *cryptobyte.String, oid *x509.OID) bool {
	var raw cryptobyte.String
	if !s.ReadASN1(&raw, cbasn1.OBJECT_IDENTIFIER) || len(raw) == 0 {
		return false
	}
	return oid.UnmarshalBinary(raw) == nil
}
