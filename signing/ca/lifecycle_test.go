package ca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/hsm/testkeys"
	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/signing/ca"
)

func TestInitIsIdempotent(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := newFixture(t, d, testkeys.Soft(t), ca.Config{})
		if _, err := f.ca.Hierarchy(ctx); !errors.Is(err, ca.ErrNotInitialised) {
			t.Fatalf("Hierarchy before Init: %v", err)
		}
		if _, err := f.ca.Issue(ctx, ca.IssueRequest{ResidentID: "r", GivenName: "A", FamilyName: "B", Level: ca.LevelHigh}); !errors.Is(err, ca.ErrNotInitialised) {
			t.Fatalf("Issue before Init: %v", err)
		}
		first, err := f.ca.Init(ctx)
		if err != nil {
			t.Fatal(err)
		}
		keys, _ := f.ring.List(ctx, "")
		backend, _ := f.km.List(ctx)
		crl, _ := f.ca.CRL(ctx)

		second, err := f.ca.Init(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range [][2]*x509.Certificate{{first.Root, second.Root}, {first.Issuing, second.Issuing}, {first.TSA, second.TSA}, {first.OCSP, second.OCSP}} {
			if !p[0].Equal(p[1]) {
				t.Errorf("second Init changed %s", p[0].Subject)
			}
		}
		keys2, _ := f.ring.List(ctx, "")
		backend2, _ := f.km.List(ctx)
		crl2, _ := f.ca.CRL(ctx)
		if len(keys2) != len(keys) || len(backend2) != len(backend) || len(keys) != 5 {
			t.Errorf("keys %d → %d, backend %d → %d (want 5: four CA roles and signing-kek)", len(keys), len(keys2), len(backend), len(backend2))
		}
		if string(crl) != string(crl2) {
			t.Error("second Init regenerated the CRL")
		}
		if n := f.count(t, `SELECT COUNT(*) FROM ca_certificates`); n != 4 {
			t.Errorf("%d CA certificates, want 4", n)
		}
		// A second node sharing the database sees the same hierarchy.
		other, _ := ca.New(d, f.ring, f.km, ca.Config{BaseURL: baseURL})
		h, err := other.Hierarchy(ctx)
		if err != nil || !h.Root.Equal(first.Root) {
			t.Errorf("another Authority: %v", err)
		}
	})
}

func TestInitRenewsTheOCSPCertificateBeforeItExpires(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f, before := initialised(t, d, testkeys.Soft(t))
		f.clock.Advance(300 * 24 * time.Hour) // 65 days left: kept
		if h, err := f.ca.Init(ctx); err != nil || !h.OCSP.Equal(before.OCSP) {
			t.Fatalf("Init with 65 days left renewed the OCSP certificate (%v)", err)
		}
		f.clock.Advance(40 * 24 * time.Hour) // 25 days left: renewed
		after, err := f.ca.Init(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after.OCSP.Equal(before.OCSP) || after.OCSP.NotAfter.Before(f.clock.Now().Add(300*24*time.Hour)) {
			t.Fatalf("OCSP certificate not renewed: until %s", after.OCSP.NotAfter)
		}
		if !after.Root.Equal(before.Root) || !after.Issuing.Equal(before.Issuing) || !after.TSA.Equal(before.TSA) {
			t.Error("renewing the OCSP certificate changed another certificate")
		}
		if n := f.count(t, `SELECT COUNT(*) FROM ca_certificates WHERE kind = 'ocsp'`); n != 2 {
			t.Errorf("%d OCSP certificates recorded, want the old and the new", n)
		}
		// The old responder certificate still answers for its status.
		if st, err := f.ca.Status(ctx, before.OCSP.SerialNumber); err != nil || !st.Known || st.Revoked {
			t.Errorf("status of the old OCSP certificate: %+v %v", st, err)
		}
	})
}

func TestIssueRefusesBadRequestsAndChangesNothing(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f, _ := initialised(t, d, testkeys.Soft(t))
		for _, tc := range []struct {
			name string
			req  ca.IssueRequest
			want error
		}{
			{"substantial assurance is not enough", ca.IssueRequest{ResidentID: "r1", GivenName: "Tai Man", FamilyName: "Chan", Level: "substantial"}, ca.ErrAssuranceTooLow},
			{"no level is not enough", ca.IssueRequest{ResidentID: "r1", GivenName: "Tai Man", FamilyName: "Chan"}, ca.ErrAssuranceTooLow},
			{"a resident ID is needed", ca.IssueRequest{GivenName: "Tai Man", FamilyName: "Chan", Level: ca.LevelHigh}, ca.ErrInvalidRequest},
			{"a given name is needed", ca.IssueRequest{ResidentID: "r1", FamilyName: "Chan", Level: ca.LevelHigh}, ca.ErrInvalidRequest},
			{"control characters are refused", ca.IssueRequest{ResidentID: "r1", GivenName: "Tai\nMan", FamilyName: "Chan", Level: ca.LevelHigh}, ca.ErrInvalidRequest},
			{"a common name over 64 characters is refused", ca.IssueRequest{ResidentID: "r1", GivenName: strings.Repeat("A", 40), FamilyName: strings.Repeat("B", 30), Level: ca.LevelHigh}, ca.ErrInvalidRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := f.ca.Issue(ctx, tc.req); !errors.Is(err, tc.want) {
					t.Fatalf("Issue = %v, want %v", err, tc.want)
				}
				if n := f.count(t, `SELECT COUNT(*) FROM signing_certificates`) + f.count(t, `SELECT COUNT(*) FROM signing_pseudonyms`); n != 0 {
					t.Fatalf("a refused request left %d rows", n)
				}
			})
		}
		// Unicode names are fine.
		if _, err := f.ca.Issue(ctx, ca.IssueRequest{ResidentID: "r2", GivenName: "美玲", FamilyName: "陳", Level: ca.LevelHigh}); err != nil {
			t.Fatalf("Chinese name: %v", err)
		}
	})
}

func TestReissueSupersedesAndKeepsThePseudonym(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f, _ := initialised(t, d, testkeys.Soft(t))
		if _, err := f.ca.Current(ctx, "r1"); !errors.Is(err, ca.ErrNoCertificate) {
			t.Fatalf("Current before issuance: %v", err)
		}
		first := f.issue(t, "r1")
		f.clock.Advance(time.Minute)
		second := f.issue(t, "r1")
		other := f.issue(t, "r2")

		if first.Cert.Subject.SerialNumber != second.Cert.Subject.SerialNumber {
			t.Errorf("pseudonym changed: %s → %s", first.Cert.Subject.SerialNumber, second.Cert.Subject.SerialNumber)
		}
		if first.Cert.Subject.SerialNumber == other.Cert.Subject.SerialNumber {
			t.Error("two residents share a pseudonym")
		}
		old, err := f.ca.Get(ctx, first.ID)
		if err != nil || old.Status != ca.StatusRevoked || old.Reason != ca.ReasonSuperseded || !old.RevokedAt.Equal(second.CreatedAt) {
			t.Fatalf("first certificate after reissue: %+v %v", old, err)
		}
		cur, err := f.ca.Current(ctx, "r1")
		if err != nil || cur.ID != second.ID {
			t.Fatalf("Current = %s %v, want %s", cur.ID, err, second.ID)
		}
		list, err := f.ca.Certificates(ctx, "r1")
		if err != nil || len(list) != 2 || list[0].ID != second.ID || list[1].ID != first.ID {
			t.Fatalf("Certificates not newest first: %v", err)
		}
		if n := f.count(t, `SELECT COUNT(*) FROM signing_certificates WHERE id = $1 AND wrapped_key IS NULL`, first.ID); n != 1 {
			t.Error("the superseded certificate's wrapped key is still stored")
		}
		crl := parseCRL(t, f)
		if !crlHas(crl, first.Serial, ca.ReasonSuperseded) || crlHas(crl, second.Serial, -1) {
			t.Error("the CRL does not list exactly the superseded certificate")
		}
	})
}

func TestSignerSignsWithTheResidentKeyUntilRevoked(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f, _ := initialised(t, d, testkeys.Soft(t))
		c := f.issue(t, "r1")
		signAndVerify(t, f, c.ID)

		var blob []byte
		if err := f.db.QueryRowContext(ctx, `SELECT wrapped_key FROM signing_certificates WHERE id = $1`, c.ID).Scan(&blob); err != nil || len(blob) == 0 {
			t.Fatalf("wrapped key before revocation: %d bytes, %v", len(blob), err)
		}
		var kek string
		f.db.QueryRowContext(ctx, `SELECT kek_id FROM signing_certificates WHERE id = $1`, c.ID).Scan(&kek)
		if active, _ := f.ring.Active(ctx, keyring.SigningKEK); active.ID != kek {
			t.Errorf("kek_id %s, active signing-kek %s", kek, active.ID)
		}

		if err := f.ca.Revoke(ctx, c.ID, ca.ReasonKeyCompromise, "operator:alice"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.ca.Signer(ctx, c.ID); !errors.Is(err, ca.ErrRevoked) {
			t.Fatalf("Signer of a revoked certificate: %v", err)
		}
		var (
			stillThere int
			actor      string
		)
		f.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM signing_certificates WHERE id = $1 AND wrapped_key IS NULL AND status = 'revoked'`, c.ID).Scan(&stillThere)
		f.db.QueryRowContext(ctx, `SELECT revoked_by FROM signing_certificates WHERE id = $1`, c.ID).Scan(&actor)
		if stillThere != 1 || actor != "operator:alice" {
			t.Fatalf("after revocation: row %d, actor %q; want the row kept, its key erased", stillThere, actor)
		}

		// Expiry: a certificate two years old signs no more.
		c2 := f.issue(t, "r2")
		f.clock.Advance(ca.DefaultResidentValidity + time.Hour)
		if _, _, err := f.ca.Signer(ctx, c2.ID); !errors.Is(err, ca.ErrExpired) {
			t.Fatalf("Signer of an expired certificate: %v", err)
		}
		if _, err := f.ca.Current(ctx, "r2"); !errors.Is(err, ca.ErrNoCertificate) {
			t.Errorf("Current of an expired certificate: %v", err)
		}
		if got, _ := f.ca.Get(ctx, c2.ID); got.Status != ca.StatusExpired {
			t.Errorf("status of an expired certificate %q", got.Status)
		}
		if _, _, err := f.ca.Signer(ctx, "no-such-id"); !errors.Is(err, ca.ErrNotFound) {
			t.Errorf("Signer of an unknown ID: %v", err)
		}
	})
}

// signAndVerify signs a digest with the certificate's key and checks it
// against the certificate's public key.
func signAndVerify(t *testing.T, f *fixture, certID string) {
	t.Helper()
	s, c, err := f.ca.Signer(context.Background(), certID)
	if err != nil {
		t.Fatalf("Signer: %v", err)
	}
	digest := sha256.Sum256([]byte("a PDF's signed attributes"))
	sig, err := s.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if !ecdsa.VerifyASN1(c.Cert.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatal("signature does not verify with the certificate's key")
	}
	if s.Algorithm() != hsm.ECP256 {
		t.Errorf("algorithm %s", s.Algorithm())
	}
}

func TestRevokeIsFinalAndValidated(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f, _ := initialised(t, d, testkeys.Soft(t))
		c := f.issue(t, "r1")

		for _, bad := range []struct {
			reason int
			actor  string
		}{{6, "op"}, {2, "op"}, {-1, "op"}, {99, "op"}, {ca.ReasonKeyCompromise, ""}} {
			if err := f.ca.Revoke(ctx, c.ID, bad.reason, bad.actor); !errors.Is(err, ca.ErrBadReason) && !errors.Is(err, ca.ErrInvalidRequest) {
				t.Errorf("Revoke(reason %d, actor %q) = %v", bad.reason, bad.actor, err)
			}
		}
		if got, _ := f.ca.Get(ctx, c.ID); got.Status != ca.StatusValid {
			t.Fatal("a refused revocation changed the certificate")
		}
		if err := f.ca.Revoke(ctx, "no-such-id", ca.ReasonUnspecified, "op"); !errors.Is(err, ca.ErrNotFound) {
			t.Errorf("Revoke of an unknown ID: %v", err)
		}

		number := parseCRL(t, f).Number
		if err := f.ca.Revoke(ctx, c.ID, ca.ReasonCessationOfOperation, "resident"); err != nil {
			t.Fatal(err)
		}
		afterFirst := parseCRL(t, f)
		if afterFirst.Number.Cmp(new(big.Int).Add(number, big.NewInt(1))) != 0 {
			t.Errorf("CRL number %s after revocation, was %s", afterFirst.Number, number)
		}
		if !crlHas(afterFirst, c.Serial, ca.ReasonCessationOfOperation) {
			t.Error("revoked certificate not on the CRL with its reason")
		}
		revoked, _ := f.ca.Get(ctx, c.ID)

		f.clock.Advance(time.Minute)
		if err := f.ca.Revoke(ctx, c.ID, ca.ReasonKeyCompromise, "someone else"); !errors.Is(err, ca.ErrAlreadyRevoked) {
			t.Fatalf("second Revoke = %v", err)
		}
		again, _ := f.ca.Get(ctx, c.ID)
		var actor string
		f.db.QueryRowContext(ctx, `SELECT revoked_by FROM signing_certificates WHERE id = $1`, c.ID).Scan(&actor)
		if again.Reason != ca.ReasonCessationOfOperation || !again.RevokedAt.Equal(revoked.RevokedAt) || actor != "resident" {
			t.Errorf("second Revoke changed the record: %+v by %q", again, actor)
		}
		if parseCRL(t, f).Number.Cmp(afterFirst.Number) != 0 {
			t.Error("a refused revocation regenerated the CRL")
		}
	})
}

func TestRevokeResidentKeepsRecordsWithoutTheAccount(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f, _ := initialised(t, d, testkeys.Soft(t))
		if _, err := d.ExecContext(ctx, `INSERT INTO residents (id, id_number, surname, given_names, birth_date, gender, assurance_level, status, created_at, updated_at)
			VALUES ('res-1', 'A1234563', 'Chan', 'Tai Man', '1980-01-01', 'M', 'high', 'active', 0, 0)`); err != nil {
			t.Fatal(err)
		}
		first := f.issue(t, "res-1")
		second := f.issue(t, "res-1")
		keep := f.issue(t, "res-2")

		n, err := f.ca.RevokeResident(ctx, "res-1", ca.ReasonCessationOfOperation, "account deletion")
		if err != nil || n != 1 {
			t.Fatalf("RevokeResident = %d, %v; want 1 (the other was superseded)", n, err)
		}
		if n, err := f.ca.RevokeResident(ctx, "res-1", ca.ReasonCessationOfOperation, "account deletion"); err != nil || n != 0 {
			t.Fatalf("second RevokeResident = %d, %v", n, err)
		}
		if _, err := f.ca.RevokeResident(ctx, "res-1", 6, "x"); !errors.Is(err, ca.ErrBadReason) {
			t.Errorf("RevokeResident with certificateHold: %v", err)
		}
		// The account goes; its certificates' revocations stay.
		if _, err := d.ExecContext(ctx, `DELETE FROM residents WHERE id = 'res-1'`); err != nil {
			t.Fatal(err)
		}
		list, err := f.ca.Certificates(ctx, "res-1")
		if err != nil || len(list) != 2 {
			t.Fatalf("certificates after account deletion: %d, %v", len(list), err)
		}
		for _, c := range []ca.Certificate{first, second} {
			st, err := f.ca.Status(ctx, c.Serial)
			if err != nil || !st.Known || !st.Revoked {
				t.Errorf("status of %s after account deletion: %+v %v", c.ID, st, err)
			}
		}
		crl := parseCRL(t, f)
		if !crlHas(crl, first.Serial, ca.ReasonSuperseded) || !crlHas(crl, second.Serial, ca.ReasonCessationOfOperation) || crlHas(crl, keep.Serial, -1) {
			t.Error("CRL entries wrong after RevokeResident")
		}
		if st, _ := f.ca.Status(ctx, keep.Serial); !st.Known || st.Revoked {
			t.Errorf("another resident's certificate: %+v", st)
		}
		if st, _ := f.ca.Status(ctx, big.NewInt(12345)); st.Known {
			t.Error("an unknown serial is Known")
		}
	})
}

func parseCRL(t *testing.T, f *fixture) *x509.RevocationList {
	t.Helper()
	der, err := f.ca.CRL(context.Background())
	if err != nil {
		t.Fatalf("CRL: %v", err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("ParseRevocationList: %v", err)
	}
	return crl
}

// crlHas reports whether serial is listed with reason (any reason if -1).
func crlHas(crl *x509.RevocationList, serial *big.Int, reason int) bool {
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(serial) == 0 {
			return reason == -1 || e.ReasonCode == reason
		}
	}
	return false
}

func TestCRLs(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f, h := initialised(t, d, testkeys.Soft(t))
		crl := parseCRL(t, f)
		if err := crl.CheckSignatureFrom(h.Issuing); err != nil {
			t.Fatalf("CRL signature: %v", err)
		}
		if string(crl.AuthorityKeyId) != string(h.Issuing.SubjectKeyId) || crl.NextUpdate.Sub(crl.ThisUpdate) != 24*time.Hour ||
			len(crl.RevokedCertificateEntries) != 0 || crl.Number.Sign() <= 0 {
			t.Fatalf("CRL: AKI %x, validity %s, %d entries, number %s", crl.AuthorityKeyId, crl.NextUpdate.Sub(crl.ThisUpdate), len(crl.RevokedCertificateEntries), crl.Number)
		}
		// Served unchanged while fresh, regenerated past half its validity.
		f.clock.Advance(11 * time.Hour)
		if again := parseCRL(t, f); again.Number.Cmp(crl.Number) != 0 {
			t.Error("CRL regenerated before half of its validity")
		}
		f.clock.Advance(2 * time.Hour)
		later := parseCRL(t, f)
		if later.Number.Cmp(crl.Number) <= 0 || !later.ThisUpdate.After(crl.ThisUpdate) {
			t.Errorf("CRL not regenerated past half of its validity: number %s, thisUpdate %s", later.Number, later.ThisUpdate)
		}

		// A revocation whose CRL regeneration was lost (another node
		// crashed after its commit) is caught at the next request.
		c := f.issue(t, "r1")
		if _, err := d.ExecContext(ctx, `UPDATE signing_certificates SET status = 'revoked', wrapped_key = NULL, revoked_at = $1, reason = 1, revoked_by = 'x' WHERE id = $2`,
			db.Timestamp{Time: f.clock.Now()}, c.ID); err != nil {
			t.Fatal(err)
		}
		if !crlHas(parseCRL(t, f), c.Serial, ca.ReasonKeyCompromise) {
			t.Error("a revocation made elsewhere is not on the CRL")
		}

		// Expired revoked certificates leave the CRL (RFC 5280 §3.3).
		f.clock.Advance(ca.DefaultResidentValidity + time.Hour)
		if crlHas(parseCRL(t, f), c.Serial, -1) {
			t.Error("an expired certificate is still on the CRL")
		}

		rootDER, err := f.ca.RootCRL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		root, err := x509.ParseRevocationList(rootDER)
		if err != nil || root.CheckSignatureFrom(h.Root) != nil || len(root.RevokedCertificateEntries) != 0 ||
			root.NextUpdate.Sub(root.ThisUpdate) != ca.DefaultRootCRLValidity {
			t.Fatalf("root CRL: %v", err)
		}
	})
}

func TestTSA(t *testing.T) {
	f, h := initialised(t, testenv.OpenDB(t, testenv.SQLite(t)), testkeys.Soft(t))
	s, cert, chain, err := f.ca.TSA(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Equal(h.TSA) || len(chain) != 1 || !chain[0].Equal(h.Issuing) {
		t.Fatal("TSA certificate or chain wrong")
	}
	digest := sha256.Sum256([]byte("TSTInfo"))
	sig, err := s.Sign(nil, digest[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatalf("TSA key does not match its certificate: %v", err)
	}
	f.clock.Advance(6 * 365 * 24 * time.Hour)
	if _, _, _, err := f.ca.TSA(context.Background()); !errors.Is(err, ca.ErrExpired) {
		t.Errorf("TSA with an expired certificate: %v", err)
	}
}

func TestConcurrentInitAndIssueKeepOneHierarchyAndOneValidCertificate(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		km := testkeys.Soft(t)
		nodes := []*fixture{newFixture(t, d, km, ca.Config{}), newFixture(t, d, km, ca.Config{}), newFixture(t, d, km, ca.Config{})}
		roots := make([]*x509.Certificate, len(nodes))
		errs := make([]error, len(nodes))
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Go(func() {
				h, err := n.ca.Init(ctx)
				roots[i], errs[i] = h.Root, err
			})
		}
		wg.Wait()
		for i := range nodes {
			if errs[i] != nil || !roots[i].Equal(roots[0]) {
				t.Fatalf("node %d: %v (roots equal: %v)", i, errs[i], errs[i] == nil && roots[i].Equal(roots[0]))
			}
		}
		if n := nodes[0].count(t, `SELECT COUNT(*) FROM ca_certificates`); n != 4 {
			t.Fatalf("%d CA certificates after concurrent Inits, want 4", n)
		}
		for i, n := range nodes {
			wg.Go(func() {
				_, errs[i] = n.ca.Issue(ctx, ca.IssueRequest{ResidentID: "r1", GivenName: "A", FamilyName: "B", Level: ca.LevelHigh})
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			}
		}
		if ok == 0 || nodes[0].count(t, `SELECT COUNT(*) FROM signing_certificates WHERE resident_id = 'r1' AND status = 'valid'`) != 1 ||
			nodes[0].count(t, `SELECT COUNT(*) FROM signing_certificates WHERE resident_id = 'r1'`) != ok {
			t.Fatalf("concurrent issuance: %v", errs)
		}
		if n := nodes[0].count(t, `SELECT COUNT(DISTINCT pseudonym) FROM signing_pseudonyms WHERE resident_id = 'r1'`); n != 1 {
			t.Fatalf("%d pseudonyms", n)
		}
	})
}
