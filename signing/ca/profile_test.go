package ca_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"regexp"
	"slices"
	"testing"
	"time"

	"eidp/hsm/testkeys"
	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/signing/ca"
)

var (
	oidKeyUsage       = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidBasicConstr    = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidExtKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidPolicies       = asn1.ObjectIdentifier{2, 5, 29, 32}
	oidGivenName      = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidSurname        = asn1.ObjectIdentifier{2, 5, 4, 4}
	oidSerialNumber   = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidCommonName     = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidCountry        = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidOrganization   = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidQualifierCPS   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 2, 1}
	oidTimeStampingKP = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
)

func extension(c *x509.Certificate, oid asn1.ObjectIdentifier) (pkix.Extension, bool) {
	for _, e := range c.Extensions {
		if e.Id.Equal(oid) {
			return e, true
		}
	}
	return pkix.Extension{}, false
}

// checkSerial: 16 octets, positive (RFC 5280 §4.1.2.2, ≥ 64 random bits).
func checkSerial(t *testing.T, what string, c *x509.Certificate) {
	t.Helper()
	if c.SerialNumber.Sign() <= 0 || len(c.SerialNumber.Bytes()) != 16 {
		t.Errorf("%s: serial %x is not 16 positive octets", what, c.SerialNumber)
	}
}

// checkSKI: RFC 5280 §4.2.1.2 method 1.
func checkSKI(t *testing.T, what string, c *x509.Certificate) {
	t.Helper()
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(spki.PublicKey.RightAlign())
	if !bytes.Equal(c.SubjectKeyId, sum[:]) {
		t.Errorf("%s: SKI %x, want SHA-1 of the key %x", what, c.SubjectKeyId, sum)
	}
}

func checkValidity(t *testing.T, what string, c *x509.Certificate, want time.Duration) {
	t.Helper()
	if got := c.NotAfter.Sub(c.NotBefore); got != want {
		t.Errorf("%s: valid for %s, want %s", what, got, want)
	}
}

func hasPolicy(c *x509.Certificate) bool {
	return slices.ContainsFunc(c.Policies, func(o x509.OID) bool { return o.String() == ca.PolicyOID })
}

func TestHierarchyProfile(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		_, h := initialised(t, d, testkeys.Soft(t))
		const year = 365 * 24 * time.Hour

		root := h.Root
		if !root.IsCA || !root.BasicConstraintsValid || root.MaxPathLen != 1 {
			t.Errorf("root basicConstraints: CA %v pathLen %d", root.IsCA, root.MaxPathLen)
		}
		if bc, _ := extension(root, oidBasicConstr); !bc.Critical {
			t.Error("root basicConstraints not critical")
		}
		if root.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
			t.Errorf("root keyUsage %b", root.KeyUsage)
		}
		if pub, ok := root.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P384() {
			t.Errorf("root key %T, want ECDSA P-384", root.PublicKey)
		}
		if err := root.CheckSignatureFrom(root); err != nil || !bytes.Equal(root.RawIssuer, root.RawSubject) {
			t.Errorf("root is not self-signed: %v", err)
		}
		if root.Subject.Organization[0] != ca.DefaultOrganization || root.Subject.Country[0] != ca.DefaultCountry {
			t.Errorf("root subject %s", root.Subject)
		}
		checkValidity(t, "root", root, 20*year)

		iss := h.Issuing
		if !iss.IsCA || iss.MaxPathLen != 0 || !iss.MaxPathLenZero {
			t.Errorf("issuing basicConstraints: CA %v pathLen %d zero %v", iss.IsCA, iss.MaxPathLen, iss.MaxPathLenZero)
		}
		if iss.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
			t.Errorf("issuing keyUsage %b", iss.KeyUsage)
		}
		if err := iss.CheckSignatureFrom(root); err != nil {
			t.Errorf("issuing not signed by root: %v", err)
		}
		if !bytes.Equal(iss.AuthorityKeyId, root.SubjectKeyId) {
			t.Errorf("issuing AKI %x, root SKI %x", iss.AuthorityKeyId, root.SubjectKeyId)
		}
		if !slices.Equal(iss.IssuingCertificateURL, []string{baseURL + "/pki/root.crt"}) ||
			!slices.Equal(iss.CRLDistributionPoints, []string{baseURL + "/pki/root.crl"}) || len(iss.OCSPServer) != 0 {
			t.Errorf("issuing URLs: AIA %v CDP %v OCSP %v", iss.IssuingCertificateURL, iss.CRLDistributionPoints, iss.OCSPServer)
		}
		if !hasPolicy(iss) {
			t.Errorf("issuing policies %v lack %s", iss.Policies, ca.PolicyOID)
		}
		checkValidity(t, "issuing", iss, 10*year)

		tsa := h.TSA
		if !slices.Equal(tsa.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}) || len(tsa.UnknownExtKeyUsage) != 0 {
			t.Errorf("TSA EKU %v %v, want timeStamping only", tsa.ExtKeyUsage, tsa.UnknownExtKeyUsage)
		}
		if eku, _ := extension(tsa, oidExtKeyUsage); !eku.Critical {
			t.Error("TSA EKU not critical (RFC 3161 §2.3)")
		}
		if tsa.KeyUsage != x509.KeyUsageDigitalSignature || tsa.IsCA {
			t.Errorf("TSA keyUsage %b CA %v", tsa.KeyUsage, tsa.IsCA)
		}
		if err := tsa.CheckSignatureFrom(iss); err != nil {
			t.Errorf("TSA not signed by the issuing CA: %v", err)
		}
		checkValidity(t, "TSA", tsa, 5*year)

		oc := h.OCSP
		if !slices.Equal(oc.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}) || oc.KeyUsage != x509.KeyUsageDigitalSignature {
			t.Errorf("OCSP EKU %v KU %b", oc.ExtKeyUsage, oc.KeyUsage)
		}
		if nc, ok := extension(oc, ca.OIDOCSPNoCheck); !ok || !bytes.Equal(nc.Value, []byte{5, 0}) {
			t.Errorf("OCSP responder lacks id-pkix-ocsp-nocheck: %v", nc)
		}
		if err := oc.CheckSignatureFrom(iss); err != nil {
			t.Errorf("OCSP not signed by the issuing CA: %v", err)
		}
		checkValidity(t, "OCSP", oc, year)

		for what, c := range map[string]*x509.Certificate{"root": root, "issuing": iss, "TSA": tsa, "OCSP": oc} {
			checkSerial(t, what, c)
			checkSKI(t, what, c)
		}
		if slices.Contains([]string{iss.Subject.CommonName, tsa.Subject.CommonName, oc.Subject.CommonName}, root.Subject.CommonName) {
			t.Errorf("subjects are not distinct: %s", root.Subject)
		}
	})
}

var pseudonymPattern = regexp.MustCompile(`^PSNHK-[A-Z2-7]{20}$`)

func TestResidentCertificateProfile(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, testkeys.Soft(t), ca.Config{CPSURI: "https://eidp.example/cps"})
		h, err := f.ca.Init(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got := f.issue(t, "resident-A123456")
		c := got.Cert

		// Subject, in order: C, givenName, surname, serialNumber, CN; no O.
		var types []string
		values := map[string]string{}
		for _, n := range c.Subject.Names {
			types = append(types, n.Type.String())
			values[n.Type.String()] = n.Value.(string)
		}
		want := []string{oidCountry.String(), oidGivenName.String(), oidSurname.String(), oidSerialNumber.String(), oidCommonName.String()}
		if !slices.Equal(types, want) {
			t.Errorf("subject attribute types %v, want %v", types, want)
		}
		if values[oidCommonName.String()] != "Tai Man CHAN" || values[oidGivenName.String()] != "Tai Man" ||
			values[oidSurname.String()] != "Chan" || values[oidCountry.String()] != "HK" {
			t.Errorf("subject %v", values)
		}
		if _, ok := values[oidOrganization.String()]; ok {
			t.Error("a natural person's subject has an organizationName")
		}
		if sn := values[oidSerialNumber.String()]; !pseudonymPattern.MatchString(sn) || sn == "A123456" {
			t.Errorf("subject serialNumber %q is not a pseudonym", sn)
		}

		if c.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment {
			t.Errorf("keyUsage %b, want digitalSignature|contentCommitment", c.KeyUsage)
		}
		if ku, _ := extension(c, oidKeyUsage); !ku.Critical {
			t.Error("keyUsage not critical")
		}
		if _, ok := extension(c, oidExtKeyUsage); ok || len(c.ExtKeyUsage) != 0 {
			t.Errorf("resident certificate has an EKU %v", c.ExtKeyUsage)
		}
		if c.IsCA {
			t.Error("resident certificate is a CA")
		}
		if !hasPolicy(c) || len(c.Policies) != 1 {
			t.Errorf("policies %v, want only %s", c.Policies, ca.PolicyOID)
		}
		pol, _ := extension(c, oidPolicies)
		cpsDER, _ := asn1.Marshal(oidQualifierCPS)
		if !bytes.Contains(pol.Value, cpsDER) || !bytes.Contains(pol.Value, []byte("https://eidp.example/cps")) {
			t.Errorf("certificatePolicies lacks the CPS qualifier: %x", pol.Value)
		}
		if !slices.Equal(c.OCSPServer, []string{baseURL + "/pki/ocsp"}) ||
			!slices.Equal(c.IssuingCertificateURL, []string{baseURL + "/pki/residents-ca.crt"}) ||
			!slices.Equal(c.CRLDistributionPoints, []string{baseURL + "/pki/residents.crl"}) {
			t.Errorf("URLs: OCSP %v AIA %v CDP %v", c.OCSPServer, c.IssuingCertificateURL, c.CRLDistributionPoints)
		}
		checkSKI(t, "resident", c)
		if !bytes.Equal(c.AuthorityKeyId, h.Issuing.SubjectKeyId) {
			t.Errorf("AKI %x, issuing SKI %x", c.AuthorityKeyId, h.Issuing.SubjectKeyId)
		}
		checkSerial(t, "resident", c)
		if got.Serial.Cmp(c.SerialNumber) != 0 {
			t.Errorf("Serial %x, certificate %x", got.Serial, c.SerialNumber)
		}
		checkValidity(t, "resident", c, ca.DefaultResidentValidity)

		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(h.Root)
		inter.AddCert(h.Issuing)
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("chain: %v", err)
		}
		if len(got.Chain) != 2 || !got.Chain[0].Equal(h.Issuing) || !got.Chain[1].Equal(h.Root) {
			t.Errorf("Chain has %d certificates, want issuing then root", len(got.Chain))
		}
		if got.Status != ca.StatusValid || got.ResidentID != "resident-A123456" {
			t.Errorf("certificate %+v", got)
		}
	})
}

func TestSerialsDiffer(t *testing.T) {
	f, _ := initialised(t, testenv.OpenDB(t, testenv.SQLite(t)), testkeys.Soft(t))
	seen := map[string]bool{}
	for range 20 {
		s := f.issue(t, "r").Serial.Text(16)
		if seen[s] {
			t.Fatalf("serial %s issued twice", s)
		}
		seen[s] = true
	}
}

func TestConfigIsValidated(t *testing.T) {
	d := testenv.OpenDB(t, testenv.SQLite(t))
	for _, cfg := range []ca.Config{
		{BaseURL: ""},
		{BaseURL: "localhost:8080"},
		{BaseURL: "ftp://x"},
		{BaseURL: baseURL + "?a=b"},
		{BaseURL: baseURL, Country: "hk"},
		{BaseURL: baseURL, Country: "HKG"},
		{BaseURL: baseURL, Organization: " eidp"},
		{BaseURL: baseURL, CRLValidity: -time.Hour},
		{BaseURL: baseURL, CPSURI: "not a url"},
		{BaseURL: baseURL, ResidentKeyAlgorithm: "AES-256"},
	} {
		if _, err := ca.New(d, nil, nil, cfg); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
	a, err := ca.New(d, nil, nil, ca.Config{BaseURL: baseURL + "/"})
	if err != nil || a.Config().BaseURL != baseURL || a.Config().CRLValidity != ca.DefaultCRLValidity {
		t.Errorf("defaults: %+v %v", a.Config(), err)
	}
}
