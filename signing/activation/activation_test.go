package activation_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"eidp/internal/db"
	"eidp/internal/secret"
	"eidp/internal/testenv"
	"eidp/signing/activation"
)

func addResident(t *testing.T, d *db.DB) string {
	t.Helper()
	id := secret.Random(16)
	now := time.Now().UnixMicro()
	_, err := d.ExecContext(context.Background(), `INSERT INTO residents
		(id, id_number, surname, given_names, birth_date, gender, assurance_level, status, created_at, updated_at)
		VALUES ($1, $2, 'CHAN', 'Tai Man', '1980-01-01', 'M', 'high', 'active', $3, $3)`, id, "T"+secret.Random(6), now)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func digest(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func request(resident, route string) activation.Request {
	return activation.Request{
		Route: route, ClientID: "tax", ClientName: "Inland Revenue", ClientNameZh: "稅務局",
		ResidentID: resident, CredentialID: "cred-1", Hash: crypto.SHA256, Description: "Tax return 2026",
		Documents: []activation.Document{{Label: "Tax return", Hash: digest("a")}, {Label: "Annex", Hash: digest("b")}},
	}
}

func TestStore(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clock := testenv.NewClock(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
		s := activation.New(d, activation.WithClock(clock.Now))
		rid := addResident(t, d)
		evidence := json.RawMessage(`{"signature":"AA"}`)

		t.Run("explicit route: pending, approved, used once", func(t *testing.T) {
			r, sad, err := s.Create(ctx, request(rid, activation.RouteExplicit))
			if err != nil || sad == "" || r.State != activation.StatePending || len(r.Nonce) != 32 {
				t.Fatalf("create: %+v %q %v", r, sad, err)
			}
			use := activation.Use{SAD: sad, ClientID: "tax", CredentialID: "cred-1", Hash: crypto.SHA256, Hashes: [][]byte{digest("a")}}
			if _, _, err := s.Activate(ctx, use); !errors.Is(err, activation.ErrPending) {
				t.Fatalf("before approval: %v", err)
			}
			pending, err := s.Pending(ctx, rid)
			if err != nil || len(pending) != 1 || pending[0].ID != r.ID {
				t.Fatalf("pending = %+v, %v", pending, err)
			}
			if _, err := s.Approve(ctx, r.ID, "someone-else", evidence); !errors.Is(err, activation.ErrNotFound) {
				t.Fatalf("approval by another resident: %v", err)
			}
			if _, err := s.Approve(ctx, r.ID, rid, evidence); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Approve(ctx, r.ID, rid, evidence); !errors.Is(err, activation.ErrAnswered) {
				t.Fatalf("second approval: %v", err)
			}
			// Mismatches fail and consume nothing.
			for name, bad := range map[string]activation.Use{
				"other digest":     {SAD: sad, ClientID: "tax", CredentialID: "cred-1", Hash: crypto.SHA256, Hashes: [][]byte{digest("c")}},
				"other credential": {SAD: sad, ClientID: "tax", CredentialID: "cred-2", Hash: crypto.SHA256, Hashes: [][]byte{digest("a")}},
				"other algorithm":  {SAD: sad, ClientID: "tax", CredentialID: "cred-1", Hash: crypto.SHA512, Hashes: [][]byte{digest("a")}},
			} {
				if _, _, err := s.Activate(ctx, bad); !errors.Is(err, activation.ErrMismatch) {
					t.Errorf("%s: %v", name, err)
				}
			}
			if _, _, err := s.Activate(ctx, activation.Use{SAD: sad, ClientID: "bank", CredentialID: "cred-1", Hash: crypto.SHA256, Hashes: [][]byte{digest("a")}}); !errors.Is(err, activation.ErrNotFound) {
				t.Errorf("another client: %v", err)
			}
			if _, _, err := s.Activate(ctx, activation.Use{SAD: "wrong", ClientID: "tax", CredentialID: "cred-1", Hash: crypto.SHA256, Hashes: [][]byte{digest("a")}}); !errors.Is(err, activation.ErrNotFound) {
				t.Errorf("unknown SAD: %v", err)
			}
			got, docs, err := s.Activate(ctx, activation.Use{SAD: sad, ClientID: "tax", CredentialID: "cred-1", Hash: crypto.SHA256, Hashes: [][]byte{digest("b"), digest("a")}})
			if err != nil || len(docs) != 2 || docs[0].Label != "Annex" || got.ID != r.ID || !bytes.Equal(got.Evidence, evidence) {
				t.Fatalf("activate: %+v %+v %v", got, docs, err)
			}
			if _, _, err := s.Activate(ctx, use); !errors.Is(err, activation.ErrUsed) {
				t.Fatalf("reuse: %v", err)
			}
		})

		t.Run("activation data expires", func(t *testing.T) {
			r, sad, err := s.Create(ctx, request(rid, activation.RouteExplicit))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Approve(ctx, r.ID, rid, evidence); err != nil {
				t.Fatal(err)
			}
			clock.Advance(s.SADLifetime())
			_, _, err = s.Activate(ctx, activation.Use{SAD: sad, ClientID: "tax", CredentialID: "cred-1", Hash: crypto.SHA256, Hashes: [][]byte{digest("a")}})
			if !errors.Is(err, activation.ErrExpired) {
				t.Fatalf("expired SAD: %v", err)
			}
		})

		t.Run("an expired request cannot be approved; a denied one never activates", func(t *testing.T) {
			r, _, err := s.Create(ctx, request(rid, activation.RouteExplicit))
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(11 * time.Minute)
			if _, err := s.Approve(ctx, r.ID, rid, evidence); !errors.Is(err, activation.ErrExpired) {
				t.Fatalf("late approval: %v", err)
			}
			r, sad, err := s.Create(ctx, request(rid, activation.RouteExplicit))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Deny(ctx, r.ID, rid); err != nil {
				t.Fatal(err)
			}
			_, _, err = s.Activate(ctx, activation.Use{SAD: sad, ClientID: "tax", CredentialID: "cred-1", Hash: crypto.SHA256, Hashes: [][]byte{digest("a")}})
			if !errors.Is(err, activation.ErrDenied) {
				t.Fatalf("denied: %v", err)
			}
		})

		t.Run("OAuth route: the grant's token activates", func(t *testing.T) {
			r, sad, err := s.Create(ctx, request(rid, activation.RouteOAuth))
			if err != nil || sad != "" {
				t.Fatalf("create: %q %v", sad, err)
			}
			if err := s.BindGrant(ctx, r.ID, "grant-1"); !errors.Is(err, activation.ErrNotFound) {
				t.Fatalf("binding before approval: %v", err)
			}
			if _, err := s.Approve(ctx, r.ID, rid, evidence); err != nil {
				t.Fatal(err)
			}
			if err := s.BindGrant(ctx, r.ID, "grant-1"); err != nil {
				t.Fatal(err)
			}
			use := activation.Use{GrantID: "grant-1", ClientID: "tax", CredentialID: "cred-1", Hash: crypto.SHA256, Hashes: [][]byte{digest("a")}}
			if _, _, err := s.Activate(ctx, use); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Activate(ctx, use); !errors.Is(err, activation.ErrUsed) {
				t.Fatalf("reuse: %v", err)
			}
		})

		t.Run("bad requests are refused and stored nowhere", func(t *testing.T) {
			before, _ := s.Pending(ctx, rid)
			short := request(rid, activation.RouteExplicit)
			short.Documents[0].Hash = short.Documents[0].Hash[:31]
			h512 := request(rid, activation.RouteExplicit)
			h512.Hash = crypto.SHA512
			none := request(rid, activation.RouteExplicit)
			none.Documents = nil
			dup := request(rid, activation.RouteExplicit)
			dup.Documents[1].Hash = dup.Documents[0].Hash
			ctrl := request(rid, activation.RouteExplicit)
			ctrl.Documents[0].Label = "bad\x07label"
			md5 := request(rid, activation.RouteExplicit)
			md5.Hash = crypto.MD5
			for name, r := range map[string]activation.Request{"31-byte SHA-256 digest": short, "SHA-512 with 32-byte digests": h512,
				"no documents": none, "duplicate digest": dup, "control character": ctrl, "MD5": md5} {
				if _, _, err := s.Create(ctx, r); !errors.Is(err, activation.ErrInvalid) {
					t.Errorf("%s: %v", name, err)
				}
			}
			after, _ := s.Pending(ctx, rid)
			if len(after) != len(before) {
				t.Errorf("pending grew from %d to %d", len(before), len(after))
			}
		})

		t.Run("sweep removes requests 30 days after they could last be used", func(t *testing.T) {
			fresh, _, err := s.Create(ctx, request(rid, activation.RouteExplicit))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, fresh.ID); err != nil {
				t.Fatalf("a fresh request was swept: %v", err)
			}
			clock.Advance(31 * 24 * time.Hour)
			n, err := s.Sweep(ctx)
			if err != nil || n == 0 {
				t.Fatalf("sweep: %d, %v", n, err)
			}
			if _, err := s.Get(ctx, fresh.ID); !errors.Is(err, activation.ErrNotFound) {
				t.Fatalf("an old request survived the sweep: %v", err)
			}
		})

		t.Run("records", func(t *testing.T) {
			err := s.AddRecords(ctx, []activation.Record{{RequestID: "r", ResidentID: rid, ClientID: "tax", ClientName: "Inland Revenue",
				CredentialID: "cred-1", CertSerial: "0a", HashOID: activation.HashOID(crypto.SHA256), Digest: digest("a"), Label: "Tax return", Format: "raw", Evidence: evidence}})
			if err != nil {
				t.Fatal(err)
			}
			recs, err := s.Records(ctx, rid, 0)
			if err != nil || len(recs) != 1 || recs[0].Label != "Tax return" || !bytes.Equal(recs[0].Digest, digest("a")) {
				t.Fatalf("records = %+v, %v", recs, err)
			}
		})
	})
}

func TestChallengeCommitsToEverything(t *testing.T) {
	base := request("r", activation.RouteOAuth)
	base.Nonce = bytes.Repeat([]byte{1}, 32)
	c0 := activation.Challenge(base)
	if len(c0) != 32 {
		t.Fatalf("challenge is %d bytes", len(c0))
	}
	variants := map[string]func(r *activation.Request){
		"credential": func(r *activation.Request) { r.CredentialID = "cred-2" },
		"nonce":      func(r *activation.Request) { r.Nonce = bytes.Repeat([]byte{2}, 32) },
		"a digest": func(r *activation.Request) {
			r.Documents = []activation.Document{r.Documents[0], {Label: "Annex", Hash: digest("x")}}
		},
		"the order": func(r *activation.Request) { r.Documents = []activation.Document{r.Documents[1], r.Documents[0]} },
		"one fewer": func(r *activation.Request) { r.Documents = r.Documents[:1] },
		"algorithm": func(r *activation.Request) {
			r.Hash = crypto.SHA384
			r.Documents = []activation.Document{{Label: "x", Hash: bytes.Repeat([]byte{1}, 48)}}
		},
	}
	for name, change := range variants {
		r := base
		r.Documents = append([]activation.Document(nil), base.Documents...)
		change(&r)
		if bytes.Equal(activation.Challenge(r), c0) {
			t.Errorf("changing %s leaves the challenge unchanged", name)
		}
	}
	// Labels are shown, not signed over: the challenge is about the digests.
	r := base
	r.Documents = []activation.Document{{Label: "Other", Hash: base.Documents[0].Hash}, base.Documents[1]}
	if !bytes.Equal(activation.Challenge(r), c0) {
		t.Error("a label changes the challenge")
	}
	code := activation.VerificationCode(crypto.SHA256, base.Documents)
	if len(code) != 7 || code[3] != ' ' || code != base.Code() {
		t.Errorf("code %q", code)
	}
	if activation.VerificationCode(crypto.SHA256, base.Documents[:1]) == code {
		t.Error("code does not depend on the digests")
	}
	if h, err := activation.ParseHashOID("2.16.840.1.101.3.4.2.3"); err != nil || h != crypto.SHA512 {
		t.Errorf("ParseHashOID = %v, %v", h, err)
	}
}
