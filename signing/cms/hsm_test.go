package cms_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"eidp/hsm"
	"eidp/hsm/testkeys"
	"eidp/signing/cms"
	"eidp/signing/cms/cmstest"
)

// The signer path used in production: keys generated in a PKCS #11 token
// (SoftHSM2), signing through hsm.Signer.SignContext.
func TestSignWithSoftHSM(t *testing.T) {
	ctx := context.Background()
	km := testkeys.SoftHSM(t)
	pki := cmstest.NewPKI(t)
	bundle := cmstest.WritePEM(t, t.TempDir(), "bundle.pem", pki.Root, pki.Intermediate)
	for _, tc := range []struct {
		alg  hsm.Algorithm
		hash crypto.Hash
		pss  bool
	}{
		{hsm.ECP256, crypto.SHA256, false},
		{hsm.RSA2048, crypto.SHA256, true},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			info, err := km.CreateKey(ctx, "cms-test-"+string(tc.alg), tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { km.Destroy(context.Background(), info.URI) })
			signer, err := km.Signer(ctx, info.URI)
			if err != nil {
				t.Fatal(err)
			}
			cert := pki.IssueSigner(t, signer.Public(), "Resident with an HSM key")
			der, err := cms.SignDigest(ctx, signer, hashOf(tc.hash, document), cms.SignOptions{
				Hash: tc.hash, Certificate: cert, Chain: []*x509.Certificate{pki.Intermediate}, SigningTime: time.Now(), PSS: tc.pss,
			})
			if err != nil {
				t.Fatal(err)
			}
			sd, err := cms.Parse(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := sd.VerifyContent(document); err != nil {
				t.Fatal(err)
			}
			out, err := opensslVerify(t, pki, der, document, "-CAfile", bundle)
			if err != nil || !strings.Contains(out, "Verification successful") {
				t.Fatalf("openssl: %v\n%s", err, out)
			}
		})
	}
}
