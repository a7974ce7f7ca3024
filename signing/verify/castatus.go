package verify

import (
	"context"
	"crypto/x509"
	"errors"

	"eidp/signing/ca"
)

// AuthorityStatus answers from our own CA's records for certificates that
// one of issuers issued (the issuing CA for residents, the root for the
// TSA and OCSP responder certificates); for any other certificate it has
// no answer.
func AuthorityStatus(a *ca.Authority, issuers ...*x509.Certificate) StatusSource {
	return StatusFunc(func(ctx context.Context, cert, issuer *x509.Certificate) (Status, error) {
		ours := false
		for _, i := range issuers {
			if i != nil && issuer != nil && i.Equal(issuer) {
				ours = true
				break
			}
		}
		if !ours {
			return Status{}, errNotOurs
		}
		st, err := a.Status(ctx, cert.SerialNumber)
		if err != nil {
			return Status{}, err
		}
		return Status{Known: st.Known, Revoked: st.Revoked, RevokedAt: st.RevokedAt, Reason: st.Reason}, nil
	})
}

var errNotOurs = errors.New("the certificate was not issued by this CA")
