package csc_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"eidp/idp/interaction"
	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/signing/activation"
	"eidp/signing/ca"
	"eidp/signing/csc"
)

// TestSigningAdapter: the OAuth route's side of credential authorization
// (interaction.Signing) as the provider's authorization endpoint uses it.
func TestSigningAdapter(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := newFixture(t, d, csc.Options{})
		a, b := f.resident(t), f.resident(t)
		auth := func(credentialID string, digests ...[]byte) interaction.SigningAuthorization {
			sa := interaction.SigningAuthorization{CredentialID: credentialID, HashAlgorithmOID: sha256OID, Description: "Tax return"}
			for i, d := range digests {
				sa.Documents = append(sa.Documents, interaction.SigningDocument{Label: "Document " + string(rune('A'+i)), Hash: d})
			}
			return sa
		}
		state := func(id, resident string) string {
			t.Helper()
			s, err := f.svc.SigningState(ctx, id, resident)
			if err != nil {
				t.Fatalf("SigningState: %v", err)
			}
			return s
		}

		t.Run("refusals", func(t *testing.T) {
			before := f.count(t, `SELECT COUNT(*) FROM signing_requests`)
			revoked := f.resident(t)
			if err := f.ca.Revoke(ctx, revoked.cert.ID, ca.ReasonCessationOfOperation, "test"); err != nil {
				t.Fatal(err)
			}
			for name, tc := range map[string]struct {
				resident string
				a        interaction.SigningAuthorization
			}{
				"another resident's credential": {a.id, auth(b.cert.ID, sha("x"))},
				"an unknown credential":         {a.id, auth("nope", sha("x"))},
				"a revoked credential":          {revoked.id, auth(revoked.cert.ID, sha("x"))},
				"SHA-1":                         {a.id, interaction.SigningAuthorization{CredentialID: a.cert.ID, HashAlgorithmOID: "1.3.14.3.2.26", Documents: []interaction.SigningDocument{{Label: "x", Hash: sha("x")[:20]}}}},
				"a short digest":                {a.id, auth(a.cert.ID, sha("x")[:16])},
				"no documents":                  {a.id, auth(a.cert.ID)},
				"an empty label":                {a.id, interaction.SigningAuthorization{CredentialID: a.cert.ID, HashAlgorithmOID: sha256OID, Documents: []interaction.SigningDocument{{Hash: sha("x")}}}},
			} {
				t.Run(name, func(t *testing.T) {
					id, err := f.svc.BeginSigning(ctx, clientID, tc.resident, tc.a)
					if !errors.Is(err, interaction.ErrSigningRefused) || id != "" {
						t.Errorf("BeginSigning = %q, %v; want ErrSigningRefused", id, err)
					}
				})
			}
			if n := f.count(t, `SELECT COUNT(*) FROM signing_requests`); n != before {
				t.Errorf("refused requests were stored: %d → %d", before, n)
			}
		})

		t.Run("pending, approved, bound", func(t *testing.T) {
			id, err := f.svc.BeginSigning(ctx, clientID, a.id, auth(a.cert.ID, sha("1"), sha("2")))
			if err != nil {
				t.Fatal(err)
			}
			req, err := f.act.Get(ctx, id)
			if err != nil || req.Route != activation.RouteOAuth || req.ClientName != "Inland Revenue (tax)" || len(req.Documents) != 2 {
				t.Fatalf("request %+v, %v", req, err)
			}
			if f.svc.ApprovalPath(id) != csc.ApprovalPage+"?id="+id {
				t.Errorf("ApprovalPath = %q", f.svc.ApprovalPath(id))
			}
			if s := state(id, a.id); s != interaction.SigningPending {
				t.Errorf("new request: %s", s)
			}
			if s := state(id, b.id); s != interaction.SigningExpired {
				t.Errorf("another resident asking: %s, want expired (reveal nothing)", s)
			}
			if err := f.svc.BindSigning(ctx, id, "grant-early"); err == nil {
				t.Error("a pending request was bound to a grant")
			}
			f.approve(t, a, id)
			if s := state(id, a.id); s != interaction.SigningApproved {
				t.Errorf("approved request: %s", s)
			}
			if err := f.svc.BindSigning(ctx, id, "grant-a"); err != nil {
				t.Fatal(err)
			}
			if s := state(id, a.id); s != interaction.SigningExpired {
				t.Errorf("bound request: %s, want expired (its code was issued)", s)
			}
			if err := f.svc.BindSigning(ctx, id, "grant-b"); err == nil {
				t.Error("a request was bound twice")
			}
		})

		t.Run("denied", func(t *testing.T) {
			id, err := f.svc.BeginSigning(ctx, clientID, a.id, auth(a.cert.ID, sha("3")))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.act.Deny(ctx, id, a.id); err != nil {
				t.Fatal(err)
			}
			if s := state(id, a.id); s != interaction.SigningDenied {
				t.Errorf("denied request: %s", s)
			}
		})

		t.Run("expiry", func(t *testing.T) {
			if s := state("no-such-request", a.id); s != interaction.SigningExpired {
				t.Errorf("unknown request: %s", s)
			}
			pending, err := f.svc.BeginSigning(ctx, clientID, a.id, auth(a.cert.ID, sha("4")))
			if err != nil {
				t.Fatal(err)
			}
			approved, err := f.svc.BeginSigning(ctx, clientID, a.id, auth(a.cert.ID, sha("5")))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.act.Approve(ctx, approved, a.id, json.RawMessage(`{}`)); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(f.act.SADLifetime() + time.Second)
			if s := state(approved, a.id); s != interaction.SigningExpired {
				t.Errorf("approved request past the SAD lifetime: %s", s)
			}
			if s := state(pending, a.id); s != interaction.SigningPending {
				t.Errorf("pending request within its window: %s", s)
			}
			f.clock.Advance(10 * time.Minute)
			if s := state(pending, a.id); s != interaction.SigningExpired {
				t.Errorf("pending request past its window: %s", s)
			}
		})
	})
}
