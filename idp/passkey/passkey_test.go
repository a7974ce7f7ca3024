package passkey_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"eidp/idp/passkey"
	"eidp/idp/passkey/passkeytest"
	"eidp/internal/db"
	"eidp/internal/testenv"
)

// TestService runs every case on SQLite and on PostgreSQL, one database per
// engine shared by the cases (each uses its own residents).
func TestService(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			database := testenv.OpenDB(t, d.URL)
			for _, tc := range serviceCases {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, database) })
			}
		})
	}
}

var serviceCases = []struct {
	name string
	run  func(t *testing.T, d *db.DB)
}{
	{"a resident registers a passkey and logs in with it", testRegisterAndLogin},
	{"the options have the documented shape", testOptionsShape},
	{"registration without user verification is refused", testRegistrationWithoutUV},
	{"login without user verification is refused", testLoginWithoutUV},
	{"a replayed assertion is refused", testReplay},
	{"a challenge is used once even by concurrent calls", testConcurrentReplay},
	{"an assertion made for another origin is refused", testWrongOrigin},
	{"a challenge begun in another flow or ceremony is refused", testOtherFlow},
	{"an expired challenge is refused", testExpiredChallenge},
	{"a signature counter that goes back blocks the credential for good", testCounterRegressionBlocks},
	{"in flag mode a counter regression is recorded and the login allowed", testCounterRegressionFlag},
	{"counters that stay zero are normal", testZeroCounters},
	{"backup-eligible passkeys are refused when the policy says so", testBackupEligiblePolicy},
	{"AAGUID allow and deny lists and the zero AAGUID follow the policy", testAAGUIDPolicy},
	{"excludeCredentials lists the resident's unblocked credentials", testExcludeCredentials},
	{"reauthentication accepts only the resident's own credentials", testReauth},
	{"the user handle must be the credential's resident", testUserHandleMismatch},
	{"rename checks the nickname and the owner", testRename},
	{"remove keeps the last usable credential unless told otherwise", testRemove},
	{"RemoveAll revokes every passkey of the resident", testRemoveAll},
	{"a resident may hold at most MaxCredentials passkeys", testMaxCredentials},
}

func testRegisterAndLogin(t *testing.T, d *db.DB) {
	ctx := context.Background()
	svc := newService(t, d, passkey.Policy{})
	rid := addResident(t, d)
	a := passkeytest.NewAuthenticator(origin, passkeytest.WithBackupEligible(true))

	cred, err := tryRegister(svc, a, rid, "  My phone \t")
	if err != nil {
		t.Fatalf("registration: %s", passkey.LogDetail(err))
	}
	held := a.Credentials()
	if len(held) != 1 || !bytes.Equal(cred.ID, held[0].ID) {
		t.Fatalf("registered credential ID %x, authenticator holds %v", cred.ID, held)
	}
	if string(held[0].UserHandle) != rid {
		t.Errorf("user handle = %q, want the resident ID %q", held[0].UserHandle, rid)
	}
	if cred.ResidentID != rid || cred.Nickname != "My phone" || cred.AAGUID != passkeytest.DefaultAAGUID ||
		cred.AttestationFormat != "none" || !cred.BackupEligible || !cred.BackupState || cred.SignCount != 0 ||
		!slices.Equal(cred.Transports, []string{"hybrid", "internal"}) || cred.CreatedAt.IsZero() ||
		!cred.LastUsedAt.IsZero() || cred.Blocked() || len(cred.PublicKey) == 0 {
		t.Errorf("registered credential = %+v", cred)
	}
	if cred.IDString() != base64.RawURLEncoding.EncodeToString(cred.ID) {
		t.Errorf("IDString = %q", cred.IDString())
	}

	got := login(t, svc, a)
	if got.ResidentID != rid || !bytes.Equal(got.ID, cred.ID) || got.SignCount != 1 || got.LastUsedAt.IsZero() {
		t.Errorf("login returned %+v", got)
	}
	stored := only(t, svc, rid)
	if stored.SignCount != 1 || stored.LastUsedAt.IsZero() || !bytes.Equal(stored.PublicKey, cred.PublicKey) ||
		!stored.CreatedAt.Equal(cred.CreatedAt) || stored.Nickname != "My phone" || !stored.BackupState {
		t.Errorf("stored after login = %+v", stored)
	}

	// A re-authentication of the same resident works too.
	flow := newFlow(t)
	opts, err := svc.BeginReauth(ctx, rid, flow)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	again, err := svc.FinishReauth(ctx, rid, flow, resp)
	if err != nil {
		t.Fatalf("reauth: %s", passkey.LogDetail(err))
	}
	if again.SignCount != 2 {
		t.Errorf("sign count after reauth = %d, want 2", again.SignCount)
	}
}

func testOptionsShape(t *testing.T, d *db.DB) {
	ctx := context.Background()
	svc := newService(t, d, passkey.Policy{})
	rid := addResident(t, d)

	raw, err := svc.BeginRegistration(ctx, passkey.User{ResidentID: rid, Name: "CHAN Tai Man", DisplayName: "Tai Man"}, newFlow(t))
	if err != nil {
		t.Fatal(err)
	}
	var creation map[string]any
	if err := json.Unmarshal(raw, &creation); err != nil {
		t.Fatal(err)
	}
	if _, wrapped := creation["publicKey"]; wrapped {
		t.Fatalf("creation options are wrapped in publicKey: %s", raw)
	}
	want := map[string]any{
		"rp":   map[string]any{"id": rpID, "name": "eidp test"},
		"user": map[string]any{"id": base64.RawURLEncoding.EncodeToString([]byte(rid)), "name": "CHAN Tai Man", "displayName": "Tai Man"},
		"pubKeyCredParams": []any{
			map[string]any{"type": "public-key", "alg": -7.0},
			map[string]any{"type": "public-key", "alg": -8.0},
			map[string]any{"type": "public-key", "alg": -257.0},
		},
		"timeout":                float64(passkey.DefaultChallengeTTL.Milliseconds()),
		"authenticatorSelection": map[string]any{"requireResidentKey": true, "residentKey": "required", "userVerification": "required"},
		"attestation":            "none",
	}
	challenge, _ := creation["challenge"].(string)
	if c, err := base64.RawURLEncoding.DecodeString(challenge); err != nil || len(c) < 32 {
		t.Errorf("challenge %q: want at least 32 random bytes, base64url", challenge)
	}
	delete(creation, "challenge")
	if got, _ := json.Marshal(creation); !jsonEqual(t, got, want) {
		t.Errorf("creation options\n got %s\nwant %s", got, mustJSON(want))
	}

	raw, err = svc.BeginLogin(ctx, newFlow(t))
	if err != nil {
		t.Fatal(err)
	}
	var request map[string]any
	if err := json.Unmarshal(raw, &request); err != nil {
		t.Fatal(err)
	}
	delete(request, "challenge")
	wantRequest := map[string]any{"rpId": rpID, "userVerification": "required", "timeout": float64(passkey.DefaultChallengeTTL.Milliseconds())}
	if got, _ := json.Marshal(request); !jsonEqual(t, got, wantRequest) {
		t.Errorf("request options\n got %s\nwant %s", got, mustJSON(wantRequest))
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func jsonEqual(t *testing.T, got []byte, want any) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mustJSON(want), &w); err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(mustJSON(g), mustJSON(w))
}

func testRegistrationWithoutUV(t *testing.T, d *db.DB) {
	ctx := context.Background()
	svc := newService(t, d, passkey.Policy{})
	rid := addResident(t, d)
	a := passkeytest.NewAuthenticator(origin, passkeytest.WithUserVerification(false))
	_, err := tryRegister(svc, a, rid, "")
	wantErr(t, err, passkey.ErrUserVerification)
	if creds := list(t, svc, rid); len(creds) != 0 {
		t.Errorf("a credential was stored: %+v", creds)
	}
	// The ceremony is used up: the same response cannot be sent again.
	_, err = svc.FinishRegistration(ctx, rid, hexFlow(rid), a.LastResponse(), "")
	wantErr(t, err, passkey.ErrChallenge)
}

// hexFlow is the flow tryRegister uses.
func hexFlow(residentID string) string { return hex.EncodeToString([]byte(residentID + "-register")) }

func testLoginWithoutUV(t *testing.T, d *db.DB) {
	svc := newService(t, d, passkey.Policy{})
	rid := addResident(t, d)
	a := passkeytest.NewAuthenticator(origin)
	register(t, svc, a, rid)
	a.SetUserVerified(false)
	flow := newFlow(t)
	opts, err := svc.BeginLogin(context.Background(), flow)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.FinishLogin(context.Background(), flow, resp)
	wantErr(t, err, passkey.ErrUserVerification)
	if c := only(t, svc, rid); c.SignCount != 0 || !c.LastUsedAt.IsZero() {
		t.Errorf("refused login updated the credential: %+v", c)
	}
	// The failed attempt used the challenge up: a verified answer to the
	// same options comes too late.
	a.SetUserVerified(true)
	resp, err = a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.FinishLogin(context.Background(), flow, resp)
	wantErr(t, err, passkey.ErrChallenge)
	login(t, svc, a)
}

func testReplay(t *testing.T, d *db.DB) {
	ctx := context.Background()
	svc := newService(t, d, passkey.Policy{})
	rid := addResident(t, d)
	a := passkeytest.NewAuthenticator(origin)
	register(t, svc, a, rid)

	flow := newFlow(t)
	opts, err := svc.BeginLogin(ctx, flow)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.FinishLogin(ctx, flow, resp); err != nil {
		t.Fatalf("first use: %s", passkey.LogDetail(err))
	}
	_, err = svc.FinishLogin(ctx, flow, resp)
	wantErr(t, err, passkey.ErrChallenge)

	// Nor does it fit a new ceremony of the same flow.
	if _, err := svc.BeginLogin(ctx, flow); err != nil {
		t.Fatal(err)
	}
	_, err = svc.FinishLogin(ctx, flow, resp)
	wantErr(t, err, passkey.ErrChallenge)
}

func testConcurrentReplay(t *testing.T, d *db.DB) {
	ctx := context.Background()
	svc := newService(t, d, passkey.Policy{})
	rid := addResident(t, d)
	a := passkeytest.NewAuthenticator(origin)
	register(t, svc, a, rid)
	flow := newFlow(t)
	opts, err := svc.BeginLogin(ctx, flow)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	const tries = 8
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() { _, errs[i] = svc.FinishLogin(ctx, flow, resp) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, passkey.ErrChallenge):
			t.Errorf("unexpected error: %s", passkey.LogDetail(err))
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent uses of one response succeeded, want 1", ok, tries)
	}
	// The losers never reached the counter check: no clone suspected.
	if c := only(t, svc, rid); c.Blocked() || !c.SignCountRegressedAt.IsZero() || c.SignCount != 1 {
		t.Errorf("after concurrent replays: %+v", c)
	}
}

func testWrongOrigin(t *testing.T, d *db.DB) {
	svc := newService(t, d, passkey.Policy{})
	rid := addResident(t, d)
	a := passkeytest.NewAuthenticator(origin)
	register(t, svc, a, rid)

	ctx := context.Background()
	flow := newFlow(t)
	opts, err := svc.BeginLogin(ctx, flow)
	if err != nil {
		t.Fatal(err)
	}
	a.SetOrigin("https://evil.example")
	resp, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.FinishLogin(ctx, flow, resp)
	wantErr(t, err, passkey.ErrVerification)
	if strings.Contains(err.Error(), "evil.example") {
		t.Errorf("error text carries DevInfo: %v", err)
	}
	if detail := passkey.LogDetail(err); !strings.Contains(detail, "evil.example") {
		t.Errorf("LogDetail lacks go-webauthn's DevInfo: %s", detail)
	}
	// The phished response used the challenge up.
	a.SetOrigin(origin)
	if resp, err = a.Get(opts); err != nil {
		t.Fatal(err)
	}
	_, err = svc.FinishLogin(ctx, flow, resp)
	wantErr(t, err, passkey.ErrChallenge)

	// A port is part of the origin.
	a.SetOrigin("http://localhost:8081")
	_, err = tryLogin(t, svc, a)
	wantErr(t, err, passkey.ErrVerification)

	// Registration from another origin is refused as well.
	evil := passkeytest.NewAuthenticator("https://evil.example")
	_, err = tryRegister(svc, evil, addResident(t, d), "")
	wantErr(t, err, passkey.ErrVerification)
}

func testOtherFlow(t *testing.T, d *db.DB) {
	ctx := context.Background()
	svc := newService(t, d, passkey.Policy{})
	rid := addResident(t, d)
	a := passkeytest.NewAuthenticator(origin)
	register(t, svc, a, rid)

	flowA, flowB := newFlow(t), newFlow(t)
	opts, err := svc.BeginLogin(ctx, flowA)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.FinishLogin(ctx, flowB, resp)
	wantErr(t, err, passkey.ErrChallenge)
	// Another browser cannot burn the ceremony: the right flow still works.
	if _, err := svc.FinishLogin(ctx, flowA, resp); err != nil {
		t.Fatalf("right flow after a wrong one: %s", passkey.LogDetail(err))
	}

	// A re-authentication challenge does not finish a login, nor the
	// reverse.
	opts, err = svc.BeginReauth(ctx, rid, flowA)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.FinishLogin(ctx, flowA, resp)
	wantErr(t, err, passkey.ErrChallenge)
	opts, err = svc.BeginLogin(ctx, flowA)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.FinishReauth(ctx, rid, flowA, resp)
	wantErr(t, err, passkey.ErrChallenge)
}

func testExpiredChallenge(t *testing.T, d *db.DB) {
	ctx := context.Background()
	svc := newService(t, d, passkey.Policy{})
	var mu sync.Mutex
	now := time.Now()
	passkey.SetClock(svc, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }

	rid := addResident(t, d)
	a := passkeytest.NewAuthenticator(origin)

	// Registration: finished just in time, and too late.
	flow := newFlow(t)
	opts, err := svc.BeginRegistration(ctx, passkey.User{ResidentID: rid, Name: "CHAN Tai Man"}, flow)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	advance(passkey.DefaultChallengeTTL + time.Second)
	_, err = svc.FinishRegistration(ctx, rid, flow, resp, "")
	wantErr(t, err, passkey.ErrChallenge)
	if detail := passkey.LogDetail(err); !strings.Contains(detail, "expired") {
		t.Errorf("LogDetail = %s, want it to say the challenge expired", detail)
	}
	register(t, svc, a, rid)

	flow = newFlow(t)
	opts, err = svc.BeginLogin(ctx, flow)
	if err != nil {
		t.Fatal(err)
	}
	advance(passkey.DefaultChallengeTTL - time.Second)
	resp, err = a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.FinishLogin(ctx, flow, resp); err != nil {
		t.Fatalf("login a second before expiry: %s", passkey.LogDetail(err))
	}

	opts, err = svc.BeginLogin(ctx, flow)
	if err != nil {
		t.Fatal(err)
	}
	advance(passkey.DefaultChallengeTTL)
	resp, err = a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.FinishLogin(ctx, flow, resp)
	wantErr(t, err, passkey.ErrChallenge)
}

func testCounterRegressionBlocks(t *testing.T, d *db.DB) {
	ctx := context.Background()
	svc := newService(t, d, passkey.Policy{})
	rid := addResident(t, d)
	a := passkeytest.NewAuthenticator(origin)
	cred := register(t, svc, a, rid)
	login(t, svc, a)
	login(t, svc, a) // counter 2

	// A clone replaying counter 2 with a valid signature.
	if err := a.SetCounter(cred.ID, 2); err != nil {
		t.Fatal(err)
	}
	got, err := tryLogin(t, svc, a)
	wantErr(t, err, passkey.ErrCredentialBlocked)
	if got.ResidentID != rid || got.BlockedReason != passkey.BlockedSignCountRegression || got.BlockedAt.IsZero() {
		t.Errorf("blocked credential returned with the error = %+v", got)
	}

	// The block was committed: a new Service (another node) sees it.
	stored := only(t, newService(t, d, passkey.Policy{}), rid)
	if !stored.Blocked() || stored.BlockedReason != passkey.BlockedSignCountRegression ||
		stored.SignCountRegressedAt.IsZero() || stored.SignCount != 2 {
		t.Errorf("stored after regression = %+v", stored)
	}

	// Even a correct counter no longer logs in.
	if err := a.SetCounter(cred.ID, 10); err != nil {
		t.Fatal(err)
	}
	_, err = tryLogin(t, svc, a)
	wantErr(t, err, passkey.ErrCredentialBlocked)
	if stored := only(t, svc, rid); stored.SignCount != 2 {
		t.Errorf("a blocked credential's counter moved to %d", stored.SignCount)
	}
	// And it is not offered for re-authentication.
	_, err = svc.BeginReauth(ctx, rid, newFlow(t))
	wantErr(t, err, passkey.ErrNotFound)
}

func testCounterRegressionFlag(t *testing.T, d *db.DB) {
	svc := newService(t, d, passkey.Policy{OnSignCountRegression: passkey.RegressionFlag})
	rid := addResident(t, d)
	a := passkeytest.NewAuthenticator(origin)
	cred := register(t, svc, a, rid)
	login(t, svc, a)
	if got := login(t, svc, a); !got.SignCountRegressedAt.IsZero() {
		t.Fatalf("flagged without a regression: %+v", got)
	}

	if err := a.SetCounter(cred.ID, 1); err != nil {
		t.Fatal(err)
	}
	got := login(t, svc, a)
	if got.SignCountRegressedAt.IsZero() || got.Blocked() || got.BlockedReason != "" || got.SignCount != 2 {
		t.Errorf("after a flagged regression login returned %+v", got)
	}
	stored := only(t, svc, rid)
	if stored.SignCountRegressedAt.IsZero() || stored.Blocked() || stored.BlockedReason != "" || stored.SignCount != 2 {
		t.Errorf("stored after a flagged regression = %+v", stored)
	}
	login(t, svc, a) // counter 2 again: flagged, allowed
	if got := login(t, svc, a); got.SignCount != 3 {
		t.Errorf("sign count = %d after the counter passed the stored one, want 3", got.SignCount)
	}
}

func testZeroCounters(t *testing.T, d *db.DB) {
	svc := newService(t, d, passkey.Policy{})
	rid := addResident(t, d)
	a := passkeytest.NewAuthenticator(origin, passkeytest.WithCounter(passkeytest.CounterZero),
		passkeytest.WithZeroAAGUID(), passkeytest.WithBackupEligible(true))
	register(t, svc, a, rid)
	for range 3 {
		got := login(t, svc, a)
		if got.SignCount != 0 || !got.SignCountRegressedAt.IsZero() || got.Blocked() {
			t.Fatalf("login with a zero counter returned %+v", got)
		}
	}
}

func testBackupEligiblePolicy(t *testing.T, d *db.DB) {
	svc := newService(t, d, passkey.Policy{DenyBackupEligible: true})
	rid := addResident(t, d)

	_, err := tryRegister(svc, passkeytest.NewAuthenticator(origin, passkeytest.WithBackupEligible(false)), rid, "")
	wantErr(t, err, passkey.ErrPolicy)
	var pe *passkey.PolicyError
	if !errors.As(err, &pe) || pe.Reason != passkey.ReasonBackupEligible {
		t.Errorf("error = %v, want a PolicyError with reason %s", err, passkey.ReasonBackupEligible)
	}
	if len(list(t, svc, rid)) != 0 {
		t.Error("a refused credential was stored")
	}
	register(t, svc, passkeytest.NewAuthenticator(origin), rid) // device-bound

	// A synced passkey registered before the policy changed stops working.
	rid2 := addResident(t, d)
	synced := passkeytest.NewAuthenticator(origin, passkeytest.WithBackupEligible(true))
	register(t, newService(t, d, passkey.Policy{}), synced, rid2)
	_, err = tryLogin(t, svc, synced)
	wantErr(t, err, passkey.ErrPolicy)
}

func testAAGUIDPolicy(t *testing.T, d *db.DB) {
	modelX := uuid.MustParse("11111111-2222-4333-8444-555555555555")
	modelY := uuid.MustParse("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee")
	for _, tc := range []struct {
		name   string
		policy passkey.Policy
		aaguid uuid.UUID
		reason string // "" = accepted
	}{
		{"a denied model is refused", passkey.Policy{AAGUIDDeny: []uuid.UUID{modelX}}, modelX, passkey.ReasonAAGUIDDenied},
		{"a model not denied is accepted", passkey.Policy{AAGUIDDeny: []uuid.UUID{modelX}}, modelY, ""},
		{"a model off the allow list is refused", passkey.Policy{AAGUIDAllow: []uuid.UUID{modelY}}, modelX, passkey.ReasonAAGUIDNotAllowed},
		{"a model on the allow list is accepted", passkey.Policy{AAGUIDAllow: []uuid.UUID{modelY}}, modelY, ""},
		{"the zero AAGUID passes an allow list by default", passkey.Policy{AAGUIDAllow: []uuid.UUID{modelY}}, uuid.Nil, ""},
		{"the zero AAGUID is accepted by default", passkey.Policy{}, uuid.Nil, ""},
		{"the zero AAGUID is refused when denied", passkey.Policy{DenyZeroAAGUID: true}, uuid.Nil, passkey.ReasonZeroAAGUID},
		{"a real AAGUID passes DenyZeroAAGUID", passkey.Policy{DenyZeroAAGUID: true}, modelX, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := newService(t, d, tc.policy)
			rid := addResident(t, d)
			cred, err := tryRegister(svc, passkeytest.NewAuthenticator(origin, passkeytest.WithAAGUID(tc.aaguid)), rid, "")
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %s", passkey.LogDetail(err))
				}
				if cred.AAGUID != tc.aaguid {
					t.Errorf("stored AAGUID %s, want %s", cred.AAGUID, tc.aaguid)
				}
				return
			}
			wantErr(t, err, passkey.ErrPolicy)
			var pe *passkey.PolicyError
			if !errors.As(err, &pe) || pe.Reason != tc.reason || pe.AAGUID != tc.aaguid {
				t.Errorf("error = %v, want reason %s", err, tc.reason)
			}
		})
	}

	t.Run("a model denied after registration can no longer log in", func(t *testing.T) {
		rid := addResident(t, d)
		a := passkeytest.NewAuthenticator(origin, passkeytest.WithAAGUID(modelX))
		register(t, newService(t, d, passkey.Policy{}), a, rid)
		_, err := tryLogin(t, newService(t, d, passkey.Policy{AAGUIDDeny: []uuid.UUID{modelX}}), a)
		wantErr(t, err, passkey.ErrPolicy)
	})
}

func testExcludeCredentials(t *testing.T, d *db.DB) {
	ctx := context.Background()
	svc := newService(t, d, passkey.Policy{})
	rid := addResident(t, d)
	phone := passkeytest.NewAuthenticator(origin)
	key := passkeytest.NewAuthenticator(origin)
	c1 := register(t, svc, phone, rid)
	c2 := register(t, svc, key, rid)

	opts, err := svc.BeginRegistration(ctx, passkey.User{ResidentID: rid, Name: "CHAN Tai Man"}, newFlow(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := excluded(t, opts), []string{c1.IDString(), c2.IDString()}; !slices.Equal(got, want) {
		t.Errorf("excludeCredentials = %v, want %v", got, want)
	}
	if _, err := phone.Create(opts); !errors.Is(err, passkeytest.ErrExcluded) {
		t.Errorf("an authenticator holding an excluded credential created another: %v", err)
	}

	// A blocked credential no longer stands in the way of a new one.
	login(t, svc, phone) // counter 1
	if err := phone.SetCounter(c1.ID, 1); err != nil {
		t.Fatal(err)
	}
	_, err = tryLogin(t, svc, phone) // 1 after 1: blocked
	wantErr(t, err, passkey.ErrCredentialBlocked)
	opts, err = svc.BeginRegistration(ctx, passkey.User{ResidentID: rid, Name: "CHAN Tai Man"}, newFlow(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := excluded(t, opts), []string{c2.IDString()}; !slices.Equal(got, want) {
		t.Errorf("excludeCredentials with c1 blocked = %v, want %v", got, want)
	}
}

func excluded(t *testing.T, opts []byte) []string {
	t.Helper()
	var o struct {
		Exclude []struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"excludeCredentials"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range o.Exclude {
		if e.Type != "public-key" {
			t.Errorf("descriptor type %q", e.Type)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

func testReauth(t *testing.T, d *db.DB) {
	ctx := context.Background()
	svc := newService(t, d, passkey.Policy{})
	alice, bob := addResident(t, d), addResident(t, d)
	// One shared device holding a passkey for each of them.
	a := passkeytest.NewAuthenticator(origin)
	credA := register(t, svc, a, alice)
	credB := register(t, svc, a, bob)

	flow := newFlow(t)
	opts, err := svc.BeginReauth(ctx, alice, flow)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		Allow []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
		UV string `json:"userVerification"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	if len(o.Allow) != 1 || o.Allow[0].ID != credA.IDString() || o.UV != "required" {
		t.Errorf("reauth options = %s, want allowCredentials [%s] and UV required", opts, credA.IDString())
	}

	// Bob's credential answering Alice's challenge is refused.
	resp, err := a.GetWithCredential(opts, credB.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.FinishReauth(ctx, alice, flow, resp)
	wantErr(t, err, passkey.ErrVerification)

	// Alice's challenge cannot be finished as Bob.
	opts, err = svc.BeginReauth(ctx, alice, flow)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = a.GetWithCredential(opts, credB.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.FinishReauth(ctx, bob, flow, resp)
	wantErr(t, err, passkey.ErrChallenge)

	// Alice's own credential works.
	opts, err = svc.BeginReauth(ctx, alice, flow)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.FinishReauth(ctx, alice, flow, resp)
	if err != nil {
		t.Fatalf("alice's reauth: %s", passkey.LogDetail(err))
	}
	if !bytes.Equal(got.ID, credA.ID) || got.ResidentID != alice {
		t.Errorf("reauth returned %+v", got)
	}

	// A resident without passkeys cannot be asked.
	_, err = svc.BeginReauth(ctx, addResident(t, d), flow)
	wantErr(t, err, passkey.ErrNotFound)
}

func testUserHandleMismatch(t *testing.T, d *db.DB) {
	ctx := context.Background()
	svc := newService(t, d, passkey.Policy{})
	rid, other := addResident(t, d), addResident(t, d)
	a := passkeytest.NewAuthenticator(origin)
	register(t, svc, a, rid)

	flow := newFlow(t)
	opts, err := svc.BeginLogin(ctx, flow)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	// The user handle is not covered by the signature: a client can lie.
	var m map[string]any
	if err := json.Unmarshal(resp, &m); err != nil {
		t.Fatal(err)
	}
	m["response"].(map[string]any)["userHandle"] = base64.RawURLEncoding.EncodeToString([]byte(other))
	_, err = svc.FinishLogin(ctx, flow, mustJSON(m))
	wantErr(t, err, passkey.ErrVerification)
}

func testRename(t *testing.T, d *db.DB) {
	ctx := context.Background()
	svc := newService(t, d, passkey.Policy{})
	rid, other := addResident(t, d), addResident(t, d)
	cred := register(t, svc, passkeytest.NewAuthenticator(origin), rid)

	if err := svc.Rename(ctx, rid, cred.ID, "  Work key  "); err != nil {
		t.Fatal(err)
	}
	if got := only(t, svc, rid).Nickname; got != "Work key" {
		t.Errorf("nickname = %q", got)
	}
	long := strings.Repeat("通", passkey.MaxNicknameRunes)
	if err := svc.Rename(ctx, rid, cred.ID, long); err != nil {
		t.Errorf("%d runes refused: %v", passkey.MaxNicknameRunes, err)
	}
	for _, bad := range []string{long + "x", "two\nlines", "tab\tinside", "\u202Eevil", "nul\x00", "\xff"} {
		if err := svc.Rename(ctx, rid, cred.ID, bad); !errors.Is(err, passkey.ErrInvalidNickname) {
			t.Errorf("Rename(%q) = %v, want ErrInvalidNickname", bad, err)
		}
	}
	if got := only(t, svc, rid).Nickname; got != long {
		t.Errorf("nickname changed by a refused rename: %q", got)
	}
	wantErr(t, svc.Rename(ctx, other, cred.ID, "mine now"), passkey.ErrNotFound)
	wantErr(t, svc.Rename(ctx, rid, []byte("no such credential"), "x"), passkey.ErrNotFound)

	// A bad nickname at registration does not use up the ceremony.
	a := passkeytest.NewAuthenticator(origin)
	flow := newFlow(t)
	opts, err := svc.BeginRegistration(ctx, passkey.User{ResidentID: rid, Name: "CHAN Tai Man"}, flow)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.FinishRegistration(ctx, rid, flow, resp, "bad\x07name")
	wantErr(t, err, passkey.ErrInvalidNickname)
	if _, err := svc.FinishRegistration(ctx, rid, flow, resp, "Tablet"); err != nil {
		t.Fatalf("after a refused nickname: %s", passkey.LogDetail(err))
	}
}

func testRemove(t *testing.T, d *db.DB) {
	ctx := context.Background()
	svc := newService(t, d, passkey.Policy{})
	rid, other := addResident(t, d), addResident(t, d)
	phone, key := passkeytest.NewAuthenticator(origin), passkeytest.NewAuthenticator(origin)
	c1 := register(t, svc, phone, rid)
	c2 := register(t, svc, key, rid)

	wantErr(t, svc.Remove(ctx, other, c1.ID, true), passkey.ErrNotFound)
	if err := svc.Remove(ctx, rid, c1.ID, false); err != nil {
		t.Fatalf("removing one of two: %v", err)
	}
	wantErr(t, svc.Remove(ctx, rid, c2.ID, false), passkey.ErrLastCredential)
	if got := only(t, svc, rid); !bytes.Equal(got.ID, c2.ID) {
		t.Fatalf("left %x, want %x", got.ID, c2.ID)
	}
	_, err := tryLogin(t, svc, phone)
	wantErr(t, err, passkey.ErrUnknownCredential)
	if err := svc.Remove(ctx, rid, c2.ID, true); err != nil {
		t.Fatalf("removing the last with allowLast: %v", err)
	}
	if n := len(list(t, svc, rid)); n != 0 {
		t.Errorf("%d credentials left", n)
	}
	wantErr(t, svc.Remove(ctx, rid, c2.ID, true), passkey.ErrNotFound)

	// A blocked credential does not count as usable, and can always go.
	rid = addResident(t, d)
	phone, key = passkeytest.NewAuthenticator(origin), passkeytest.NewAuthenticator(origin)
	blocked := register(t, svc, phone, rid)
	usable := register(t, svc, key, rid)
	login(t, svc, phone)
	if err := phone.SetCounter(blocked.ID, 1); err != nil {
		t.Fatal(err)
	}
	_, err = tryLogin(t, svc, phone)
	wantErr(t, err, passkey.ErrCredentialBlocked)
	wantErr(t, svc.Remove(ctx, rid, usable.ID, false), passkey.ErrLastCredential)
	if err := svc.Remove(ctx, rid, blocked.ID, false); err != nil {
		t.Errorf("removing a blocked credential: %v", err)
	}
}

func testRemoveAll(t *testing.T, d *db.DB) {
	ctx := context.Background()
	svc := newService(t, d, passkey.Policy{})
	rid, other := addResident(t, d), addResident(t, d)
	var devices []*passkeytest.Authenticator
	for range 3 {
		a := passkeytest.NewAuthenticator(origin)
		register(t, svc, a, rid)
		devices = append(devices, a)
	}
	otherDevice := passkeytest.NewAuthenticator(origin)
	register(t, svc, otherDevice, other)

	n, err := svc.RemoveAll(ctx, rid)
	if err != nil || n != 3 {
		t.Fatalf("RemoveAll = %d, %v; want 3", n, err)
	}
	if left := list(t, svc, rid); len(left) != 0 {
		t.Errorf("%d credentials left", len(left))
	}
	for _, a := range devices {
		_, err := tryLogin(t, svc, a)
		wantErr(t, err, passkey.ErrUnknownCredential)
	}
	login(t, svc, otherDevice) // someone else's passkey is untouched
	if n, err := svc.RemoveAll(ctx, rid); err != nil || n != 0 {
		t.Errorf("second RemoveAll = %d, %v; want 0", n, err)
	}
}

func testMaxCredentials(t *testing.T, d *db.DB) {
	ctx := context.Background()
	svc := newService(t, d, passkey.Policy{})
	rid := addResident(t, d)
	for range passkey.MaxCredentials {
		register(t, svc, passkeytest.NewAuthenticator(origin), rid)
	}
	_, err := svc.BeginRegistration(ctx, passkey.User{ResidentID: rid, Name: "CHAN Tai Man"}, newFlow(t))
	wantErr(t, err, passkey.ErrPolicy)
}

func TestNewChecksConfig(t *testing.T) {
	d := testenv.OpenDB(t, testenv.SQLite(t))
	good := func() passkey.Config {
		return passkey.Config{RPID: "example.gov", Origins: []string{"https://id.example.gov", "https://example.gov:8443"}}
	}
	x := uuid.MustParse("11111111-2222-4333-8444-555555555555")
	for _, tc := range []struct {
		name   string
		change func(*passkey.Config)
		ok     bool
	}{
		{"a domain with its subdomains is accepted", func(*passkey.Config) {}, true},
		{"localhost with a port over plain http is accepted", func(c *passkey.Config) {
			c.RPID, c.Origins = "localhost", []string{"http://localhost:8080"}
		}, true},
		{"an empty RP ID is refused", func(c *passkey.Config) { c.RPID = "" }, false},
		{"an IP address is refused as RP ID", func(c *passkey.Config) { c.RPID, c.Origins = "127.0.0.1", []string{"http://127.0.0.1:8080"} }, false},
		{"an upper-case RP ID is refused", func(c *passkey.Config) { c.RPID = "Example.gov" }, false},
		{"a single-label RP ID is refused", func(c *passkey.Config) { c.RPID, c.Origins = "gov", []string{"https://example.gov"} }, false},
		{"no origins are refused", func(c *passkey.Config) { c.Origins = nil }, false},
		{"a relative origin is refused", func(c *passkey.Config) { c.Origins = []string{"id.example.gov"} }, false},
		{"an origin of another site is refused", func(c *passkey.Config) { c.Origins = []string{"https://evil.example"} }, false},
		{"a look-alike suffix is refused", func(c *passkey.Config) { c.Origins = []string{"https://notexample.gov"} }, false},
		{"plain http off localhost is refused", func(c *passkey.Config) { c.Origins = []string{"http://id.example.gov"} }, false},
		{"an origin with a path is refused", func(c *passkey.Config) { c.Origins = []string{"https://id.example.gov/login"} }, false},
		{"an origin with a trailing slash is refused", func(c *passkey.Config) { c.Origins = []string{"https://id.example.gov/"} }, false},
		{"a negative TTL is refused", func(c *passkey.Config) { c.ChallengeTTL = -time.Second }, false},
		{"a TTL over an hour is refused", func(c *passkey.Config) { c.ChallengeTTL = 2 * time.Hour }, false},
		{"enterprise attestation is refused", func(c *passkey.Config) { c.Policy.Attestation = "enterprise" }, false},
		{"direct attestation is accepted", func(c *passkey.Config) { c.Policy.Attestation = passkey.AttestationDirect }, true},
		{"an unknown regression mode is refused", func(c *passkey.Config) { c.Policy.OnSignCountRegression = "ignore" }, false},
		{"a model both allowed and denied is refused", func(c *passkey.Config) {
			c.Policy.AAGUIDAllow, c.Policy.AAGUIDDeny = []uuid.UUID{x}, []uuid.UUID{x}
		}, false},
		{"the zero AAGUID in a list is refused", func(c *passkey.Config) { c.Policy.AAGUIDDeny = []uuid.UUID{uuid.Nil} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good()
			tc.change(&cfg)
			svc, err := passkey.New(d, cfg)
			if tc.ok && err != nil {
				t.Errorf("New: %v", err)
			}
			if !tc.ok && (err == nil || svc != nil) {
				t.Errorf("New accepted %+v", cfg)
			}
		})
	}
	if _, err := passkey.New(nil, good()); err == nil {
		t.Error("New accepted a nil database")
	}
}
