package logout_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"eidp/idp/client"
	"eidp/idp/logout"
	"eidp/internal/db"
	"eidp/internal/fetch"
	"eidp/internal/testenv"
)

const issuer = "https://id.city.example.gov"

// signer is a real JWS signer, as the provider's HSM-backed one: ES256 with
// a P-256 key (the default) and PS256 with an RSA key.
type signer struct {
	ec  *ecdsa.PrivateKey
	rsa *rsa.PrivateKey

	mu   sync.Mutex
	algs []string // the alg of each call
}

var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func newSigner(t *testing.T) *signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{ec: k, rsa: rsaKey()}
}

func (s *signer) sign(_ context.Context, alg, typ string, claims map[string]any) (string, error) {
	s.mu.Lock()
	s.algs = append(s.algs, alg)
	s.mu.Unlock()
	var key jose.SigningKey
	switch alg {
	case "", "ES256":
		key = jose.SigningKey{Algorithm: jose.ES256, Key: s.ec}
	case "PS256":
		key = jose.SigningKey{Algorithm: jose.PS256, Key: s.rsa}
	default:
		return "", fmt.Errorf("test signer: no key for %q", alg)
	}
	js, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := js.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

func (s *signer) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.algs...)
}

// received is one back-channel logout request as the RP saw it, after
// verifying the token's signature against the signer's public key.
type received struct {
	method, contentType, query string
	formKeys                   []string
	token                      string
	alg, typ                   string
	claims                     map[string]any
	verifyErr                  error
}

// relyingParty is a real HTTP server that parses and verifies logout tokens
// as an RP would (Back-Channel Logout §2.6).
type relyingParty struct {
	srv    *httptest.Server
	signer *signer

	mu       sync.Mutex
	got      []received
	statuses []int         // answer to request i (200 past the end)
	block    chan struct{} // if set, each request waits for it to close
}

func newRP(t *testing.T, s *signer, statuses ...int) *relyingParty {
	t.Helper()
	rp := &relyingParty{signer: s, statuses: statuses}
	rp.srv = httptest.NewServer(http.HandlerFunc(rp.serve))
	t.Cleanup(rp.srv.Close)
	return rp
}

// blocking makes every request wait until the test ends.
func (rp *relyingParty) blocking(t *testing.T) {
	rp.block = make(chan struct{})
	t.Cleanup(func() { close(rp.block) }) // before srv.Close, which waits for handlers
}

func (rp *relyingParty) serve(w http.ResponseWriter, r *http.Request) {
	rec := received{method: r.Method, contentType: r.Header.Get("Content-Type"), query: r.URL.RawQuery}
	if err := r.ParseForm(); err != nil {
		rec.verifyErr = err
	}
	for k := range r.PostForm {
		rec.formKeys = append(rec.formKeys, k)
	}
	rec.token = r.PostForm.Get("logout_token")
	rec.alg, rec.typ, rec.claims, rec.verifyErr = rp.verify(rec.token)
	rp.mu.Lock()
	n := len(rp.got)
	rp.got = append(rp.got, rec)
	status := http.StatusOK
	if n < len(rp.statuses) {
		status = rp.statuses[n]
	}
	block := rp.block
	rp.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
			// Never answer once the sender gave up: a late 200 could race
			// its close and be read as a delivery.
			panic(http.ErrAbortHandler)
		}
		return
	}
	if rec.verifyErr != nil {
		status = http.StatusBadRequest // §2.8
	}
	w.WriteHeader(status)
}

func (rp *relyingParty) verify(token string) (alg, typ string, claims map[string]any, err error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.PS256})
	if err != nil {
		return "", "", nil, fmt.Errorf("parse: %w", err)
	}
	h := jws.Signatures[0].Header
	alg = h.Algorithm
	typ, _ = h.ExtraHeaders[jose.HeaderType].(string)
	var key any = &rp.signer.ec.PublicKey
	if alg == string(jose.PS256) {
		key = &rp.signer.rsa.PublicKey
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return alg, typ, nil, fmt.Errorf("verify: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return alg, typ, nil, fmt.Errorf("claims: %w", err)
	}
	return alg, typ, claims, nil
}

func (rp *relyingParty) requests() []received {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]received(nil), rp.got...)
}

// env is one test's notifier with its clock, clients and log.
type env struct {
	d       *db.DB
	clients *client.Store
	signer  *signer
	clock   *testenv.Clock
	log     *bytes.Buffer
	logMu   *sync.Mutex
}

func newEnv(t *testing.T, d *db.DB) *env {
	t.Helper()
	// Each subtest leaves the shared queue empty for the next.
	t.Cleanup(func() {
		if _, err := d.ExecContext(context.Background(), `DELETE FROM oidc_logout_deliveries`); err != nil {
			t.Error(err)
		}
	})
	return &env{
		d:       d,
		clients: client.NewStore(d, client.Options{}), // development: http on loopback
		signer:  newSigner(t),
		clock:   testenv.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)),
		log:     &bytes.Buffer{},
		logMu:   &sync.Mutex{},
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (e *env) logged() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.log.String()
}

// notifier returns a Notifier; change adjusts its options.
func (e *env) notifier(change func(*logout.Options)) *logout.Notifier {
	opts := logout.Options{
		Issuer:  issuer,
		Fetcher: fetch.New(fetch.Options{AllowHTTP: true, AllowPrivateNetworks: true}),
		Now:     e.clock.Now,
		Log:     slog.New(slog.NewTextHandler(lockedWriter{e.logMu, e.log}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if change != nil {
		change(&opts)
	}
	return logout.New(e.d, e.clients, e.signer.sign, opts)
}

// client registers a client whose back-channel logout URI is uri (none if
// empty).
func (e *env) client(t *testing.T, uri string, change func(*client.Client)) client.Client {
	t.Helper()
	c := client.Client{
		ClientName:           "Parking Permits",
		RedirectURIs:         []string{"https://parking.example.gov/callback"},
		BackchannelLogoutURI: uri,
	}
	if change != nil {
		change(&c)
	}
	created, _, err := e.clients.Create(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func (e *env) pending(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.d.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM oidc_logout_deliveries`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

type row struct {
	attempts  int
	next      db.Timestamp
	lastError *string
}

func (e *env) row(t *testing.T) row {
	t.Helper()
	var r row
	err := e.d.QueryRowContext(context.Background(), `SELECT attempts, next_attempt_at, last_error FROM oidc_logout_deliveries`).
		Scan(&r.attempts, &r.next, &r.lastError)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func deliver(t *testing.T, n *logout.Notifier, wantDelivered, wantFailed int) {
	t.Helper()
	delivered, failed, err := n.Deliver(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if delivered != wantDelivered || failed != wantFailed {
		t.Fatalf("Deliver = %d delivered, %d failed; want %d, %d", delivered, failed, wantDelivered, wantFailed)
	}
}

func num(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a JSON number", v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestNotifier(t *testing.T) {
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()

		t.Run("a logout token is delivered, verifies, carries the spec's claims, and its row is deleted", func(t *testing.T) {
			e := newEnv(t, d)
			rp := newRP(t, e.signer)
			c := e.client(t, rp.srv.URL+"/backchannel?tenant=parking", nil)
			n := e.notifier(nil)
			if err := n.Enqueue(ctx, []logout.Notice{{ClientID: c.ClientID, Subject: "pairwise-sub-1", SID: "sid-1"}}); err != nil {
				t.Fatal(err)
			}
			if got := e.pending(t); got != 1 {
				t.Fatalf("%d rows after Enqueue, want 1", got)
			}
			e.clock.Advance(3 * time.Second)
			deliver(t, n, 1, 0)

			reqs := rp.requests()
			if len(reqs) != 1 {
				t.Fatalf("RP got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.verifyErr != nil {
				t.Fatalf("the RP could not verify the token: %v", r.verifyErr)
			}
			if r.method != http.MethodPost || r.contentType != "application/x-www-form-urlencoded" {
				t.Errorf("method %q, Content-Type %q", r.method, r.contentType)
			}
			if r.query != "tenant=parking" {
				t.Errorf("query %q: the registered URI's query was not kept", r.query)
			}
			if len(r.formKeys) != 1 || r.formKeys[0] != "logout_token" {
				t.Errorf("form keys %v, want [logout_token]", r.formKeys)
			}
			if r.typ != "logout+jwt" || r.alg != "ES256" {
				t.Errorf("header typ %q alg %q, want logout+jwt ES256", r.typ, r.alg)
			}
			cl := r.claims
			if cl["iss"] != issuer || cl["aud"] != c.ClientID || cl["sub"] != "pairwise-sub-1" || cl["sid"] != "sid-1" {
				t.Errorf("iss/aud/sub/sid = %v/%v/%v/%v", cl["iss"], cl["aud"], cl["sub"], cl["sid"])
			}
			events, ok := cl["events"].(map[string]any)
			if !ok || len(events) != 1 {
				t.Fatalf("events = %#v", cl["events"])
			}
			if ev, ok := events["http://schemas.openid.net/event/backchannel-logout"].(map[string]any); !ok || len(ev) != 0 {
				t.Errorf("events = %#v, want the back-channel logout event with {}", events)
			}
			if _, ok := cl["nonce"]; ok {
				t.Error("the logout token has a nonce (§2.4 forbids it)")
			}
			iat, exp := num(t, cl["iat"]), num(t, cl["exp"])
			if iat != e.clock.Now().Unix() || exp-iat != 120 {
				t.Errorf("iat %d exp %d; want iat = now (%d), exp − iat = 120", iat, exp, e.clock.Now().Unix())
			}
			if jti, _ := cl["jti"].(string); len(jti) < 16 {
				t.Errorf("jti %q is not a random identifier", jti)
			}
			if got := e.pending(t); got != 0 {
				t.Errorf("%d rows left after delivery", got)
			}
			if algs := e.signer.calls(); len(algs) != 1 || algs[0] != "ES256" {
				t.Errorf("signer called with %v, want the client's ES256", algs)
			}
			deliver(t, n, 0, 0) // nothing more to send
		})

		t.Run("a notice without sid gives a token with sub only", func(t *testing.T) {
			e := newEnv(t, d)
			rp := newRP(t, e.signer)
			c := e.client(t, rp.srv.URL+"/bcl", nil)
			n := e.notifier(nil)
			if err := n.Enqueue(ctx, []logout.Notice{{ClientID: c.ClientID, Subject: "s"}}); err != nil {
				t.Fatal(err)
			}
			deliver(t, n, 1, 0)
			r := rp.requests()[0]
			if _, ok := r.claims["sid"]; ok || r.claims["sub"] != "s" || r.verifyErr != nil {
				t.Errorf("claims %v (verify: %v): want sub and no sid", r.claims, r.verifyErr)
			}
		})

		t.Run("the token is signed with the client's id_token_signed_response_alg", func(t *testing.T) {
			e := newEnv(t, d)
			rp := newRP(t, e.signer)
			c := e.client(t, rp.srv.URL+"/bcl", func(c *client.Client) { c.IDTokenSignedResponseAlg = "PS256" })
			n := e.notifier(nil)
			if err := n.Enqueue(ctx, []logout.Notice{{ClientID: c.ClientID, Subject: "s", SID: "x"}}); err != nil {
				t.Fatal(err)
			}
			deliver(t, n, 1, 0)
			r := rp.requests()[0]
			if r.verifyErr != nil || r.alg != "PS256" {
				t.Errorf("alg %q, verify: %v; want a PS256 token that verifies", r.alg, r.verifyErr)
			}
		})

		t.Run("clients without a backchannel_logout_uri, and unknown ones, are ignored", func(t *testing.T) {
			e := newEnv(t, d)
			rp := newRP(t, e.signer)
			with := e.client(t, rp.srv.URL+"/bcl", nil)
			without := e.client(t, "", nil)
			n := e.notifier(nil)
			err := n.Enqueue(ctx, []logout.Notice{
				{ClientID: without.ClientID, Subject: "a", SID: "1"},
				{ClientID: "no-such-client", Subject: "b", SID: "1"},
				{ClientID: with.ClientID, Subject: "c", SID: "1"},
				{ClientID: with.ClientID, Subject: "c", SID: "1"}, // repeated: stored once
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := e.pending(t); got != 1 {
				t.Fatalf("%d rows, want 1 (only the client with a URI)", got)
			}
			deliver(t, n, 1, 0)
			if reqs := rp.requests(); len(reqs) != 1 || reqs[0].claims["aud"] != with.ClientID {
				t.Errorf("RP got %d requests", len(reqs))
			}
		})

		t.Run("a notice without client or subject is refused and nothing is stored", func(t *testing.T) {
			e := newEnv(t, d)
			rp := newRP(t, e.signer)
			c := e.client(t, rp.srv.URL+"/bcl", nil)
			n := e.notifier(nil)
			for _, bad := range []logout.Notice{{ClientID: c.ClientID}, {Subject: "s"}} {
				err := n.Enqueue(ctx, []logout.Notice{{ClientID: c.ClientID, Subject: "ok"}, bad})
				if !errors.Is(err, logout.ErrInvalidNotice) || !strings.Contains(err.Error(), "notice 1") {
					t.Errorf("Enqueue(%+v) = %v, want ErrInvalidNotice naming notice 1", bad, err)
				}
			}
			if got := e.pending(t); got != 0 {
				t.Errorf("%d rows stored from a refused batch", got)
			}
		})

		t.Run("an RP that fails twice gets the token on the third pass, after the backoff", func(t *testing.T) {
			e := newEnv(t, d)
			rp := newRP(t, e.signer, 500, 500) // then 200
			c := e.client(t, rp.srv.URL+"/bcl", nil)
			n := e.notifier(nil) // default backoff: 10 s then 20 s, ±20 %
			if err := n.Enqueue(ctx, []logout.Notice{{ClientID: c.ClientID, Subject: "s", SID: "x"}}); err != nil {
				t.Fatal(err)
			}

			deliver(t, n, 0, 1)
			r := e.row(t)
			if r.attempts != 1 || r.lastError == nil || !strings.Contains(*r.lastError, "500") {
				t.Fatalf("after one failure: attempts %d, last_error %v", r.attempts, r.lastError)
			}
			if wait := r.next.Sub(e.clock.Now()); wait < 8*time.Second || wait > 12*time.Second {
				t.Errorf("next attempt in %s, want 10 s ± 20 %%", wait)
			}
			token := rp.requests()[0].token
			if strings.Contains(*r.lastError, token) {
				t.Error("last_error contains the logout token")
			}

			e.clock.Advance(7 * time.Second) // not yet due
			deliver(t, n, 0, 0)
			e.clock.Advance(5 * time.Second) // 12 s: due
			deliver(t, n, 0, 1)
			r = e.row(t)
			if wait := r.next.Sub(e.clock.Now()); r.attempts != 2 || wait < 16*time.Second || wait > 24*time.Second {
				t.Errorf("after two failures: attempts %d, next in %s; want 2, 20 s ± 20 %%", r.attempts, wait)
			}

			e.clock.Advance(15 * time.Second) // not yet due
			deliver(t, n, 0, 0)
			e.clock.Advance(10 * time.Second)
			deliver(t, n, 1, 0)
			if got := e.pending(t); got != 0 {
				t.Errorf("%d rows left after delivery", got)
			}
			reqs := rp.requests()
			if len(reqs) != 3 {
				t.Fatalf("RP got %d requests, want 3", len(reqs))
			}
			// Signed afresh at each attempt.
			jtis := map[any]bool{}
			for i, req := range reqs {
				if req.verifyErr != nil {
					t.Fatalf("request %d: %v", i, req.verifyErr)
				}
				jtis[req.claims["jti"]] = true
			}
			if len(jtis) != 3 || num(t, reqs[2].claims["iat"]) != e.clock.Now().Unix() {
				t.Errorf("tokens were not signed afresh: %d distinct jti, last iat %v", len(jtis), reqs[2].claims["iat"])
			}
		})

		t.Run("after MaxAttempts the delivery is deleted and logged without the token", func(t *testing.T) {
			e := newEnv(t, d)
			rp := newRP(t, e.signer, 503, 503, 503, 503, 503)
			c := e.client(t, rp.srv.URL+"/bcl", nil)
			n := e.notifier(func(o *logout.Options) {
				o.MaxAttempts = 3
				o.Backoff = func(int) time.Duration { return time.Minute }
			})
			if err := n.Enqueue(ctx, []logout.Notice{{ClientID: c.ClientID, Subject: "s", SID: "x"}}); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				deliver(t, n, 0, 1)
				if i < 2 {
					if got := e.pending(t); got != 1 {
						t.Fatalf("after attempt %d: %d rows, want 1", i+1, got)
					}
				}
				e.clock.Advance(time.Minute)
			}
			if got := e.pending(t); got != 0 {
				t.Fatalf("%d rows after MaxAttempts, want 0", got)
			}
			deliver(t, n, 0, 0)
			if got := len(rp.requests()); got != 3 {
				t.Errorf("RP got %d requests, want 3", got)
			}
			logged := e.logged()
			if !strings.Contains(logged, "giving up") || !strings.Contains(logged, "client_id="+c.ClientID) || !strings.Contains(logged, "attempts=3") {
				t.Errorf("no warning naming the client and the attempts:\n%s", logged)
			}
			for _, req := range rp.requests() {
				if strings.Contains(logged, req.token) || strings.Contains(logged, strings.Split(req.token, ".")[2]) {
					t.Error("the log contains a logout token")
				}
			}
		})

		t.Run("Enqueue makes no network call, and a hanging RP only fails its own delivery", func(t *testing.T) {
			e := newEnv(t, d)
			rp := newRP(t, e.signer)
			rp.blocking(t)
			c := e.client(t, rp.srv.URL+"/bcl", nil)
			n := e.notifier(func(o *logout.Options) {
				o.Fetcher = fetch.New(fetch.Options{AllowHTTP: true, AllowPrivateNetworks: true, Timeout: 300 * time.Millisecond})
			})
			if err := n.Enqueue(ctx, []logout.Notice{{ClientID: c.ClientID, Subject: "s", SID: "x"}}); err != nil {
				t.Fatal(err)
			}
			if got := len(rp.requests()); got != 0 {
				t.Fatalf("Enqueue sent %d requests to the RP", got)
			}
			deliver(t, n, 0, 1)
			r := e.row(t)
			if r.attempts != 1 || r.lastError == nil || !strings.Contains(*r.lastError, "timed out") {
				t.Errorf("attempts %d, last_error %v; want 1 and a timeout", r.attempts, r.lastError)
			}
			if reqs := rp.requests(); len(reqs) != 1 || strings.Contains(*r.lastError, reqs[0].token) {
				t.Errorf("RP got %d requests; last_error must not hold the token", len(reqs))
			}
		})

		t.Run("two concurrent passes send each delivery once", func(t *testing.T) {
			e := newEnv(t, d)
			rp := newRP(t, e.signer)
			c := e.client(t, rp.srv.URL+"/bcl", nil)
			a, b := e.notifier(nil), e.notifier(nil) // two nodes
			var notices []logout.Notice
			for i := range 12 {
				notices = append(notices, logout.Notice{ClientID: c.ClientID, Subject: fmt.Sprintf("sub-%d", i), SID: "x"})
			}
			if err := a.Enqueue(ctx, notices); err != nil {
				t.Fatal(err)
			}
			var (
				wg    sync.WaitGroup
				total [2]int
				errs  [2]error
			)
			for i, n := range []*logout.Notifier{a, b} {
				wg.Go(func() {
					total[i], _, errs[i] = n.Deliver(ctx)
				})
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatal(errs)
			}
			if total[0]+total[1] != 12 {
				t.Errorf("delivered %d + %d, want 12 in all", total[0], total[1])
			}
			subs := map[any]int{}
			for _, r := range rp.requests() {
				subs[r.claims["sub"]]++
			}
			for i := range 12 {
				if got := subs[fmt.Sprintf("sub-%d", i)]; got != 1 {
					t.Errorf("sub-%d sent %d times", i, got)
				}
			}
			if e.pending(t) != 0 {
				t.Error("rows left")
			}
		})

		t.Run("a deleted client's deliveries vanish with it", func(t *testing.T) {
			e := newEnv(t, d)
			rp := newRP(t, e.signer)
			gone := e.client(t, rp.srv.URL+"/gone", nil)
			stays := e.client(t, rp.srv.URL+"/stays", nil)
			n := e.notifier(nil)
			err := n.Enqueue(ctx, []logout.Notice{{ClientID: gone.ClientID, Subject: "s", SID: "x"}, {ClientID: stays.ClientID, Subject: "s", SID: "x"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.clients.Delete(ctx, gone.ClientID); err != nil {
				t.Fatal(err)
			}
			if got := e.pending(t); got != 1 {
				t.Fatalf("%d rows after deleting one client, want 1", got)
			}
			deliver(t, n, 1, 0)
			if reqs := rp.requests(); len(reqs) != 1 || reqs[0].claims["aud"] != stays.ClientID {
				t.Errorf("RP got %d requests", len(reqs))
			}
		})

		t.Run("a client that removed its URI since Enqueue is not sent to", func(t *testing.T) {
			e := newEnv(t, d)
			rp := newRP(t, e.signer)
			c := e.client(t, rp.srv.URL+"/bcl", nil)
			n := e.notifier(nil)
			if err := n.Enqueue(ctx, []logout.Notice{{ClientID: c.ClientID, Subject: "s", SID: "x"}}); err != nil {
				t.Fatal(err)
			}
			c.BackchannelLogoutURI = ""
			if _, _, err := e.clients.Update(ctx, c); err != nil {
				t.Fatal(err)
			}
			deliver(t, n, 0, 0)
			if got := len(rp.requests()); got != 0 || e.pending(t) != 0 {
				t.Errorf("RP got %d requests, %d rows left; want 0, 0", got, e.pending(t))
			}
		})

		t.Run("Run delivers when Enqueue wakes it and stops with its context", func(t *testing.T) {
			e := newEnv(t, d)
			rp := newRP(t, e.signer)
			c := e.client(t, rp.srv.URL+"/bcl", nil)
			n := e.notifier(func(o *logout.Options) { o.Interval = time.Hour })
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { n.Run(runCtx); close(done) }()
			t.Cleanup(func() { cancel(); <-done })

			if err := n.Enqueue(ctx, []logout.Notice{{ClientID: c.ClientID, Subject: "woken", SID: "x"}}); err != nil {
				t.Fatal(err)
			}
			deadline := time.After(10 * time.Second) // a hang guard, not a speed assertion
			for len(rp.requests()) == 0 {
				select {
				case <-deadline:
					t.Fatal("Run did not deliver after Enqueue woke it (the interval is an hour)")
				case <-time.After(10 * time.Millisecond):
				}
			}
			if r := rp.requests()[0]; r.claims["sub"] != "woken" {
				t.Errorf("delivered %v", r.claims)
			}
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after its context ended")
			}
		})
	})
}

func TestDefaultBackoff(t *testing.T) {
	for _, tt := range []struct {
		attempt int
		base    time.Duration
	}{
		{1, 10 * time.Second},
		{2, 20 * time.Second},
		{5, 160 * time.Second},
		{9, 2560 * time.Second},
		{10, time.Hour}, // 5120 s, capped
		{64, time.Hour}, // no overflow
	} {
		lo, hi := tt.base*8/10, tt.base*12/10
		seen := map[time.Duration]bool{}
		for range 50 {
			d := logout.DefaultBackoff(tt.attempt)
			if d < lo || d > hi {
				t.Errorf("attempt %d: %s outside [%s, %s]", tt.attempt, d, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("attempt %d: only %d distinct pauses in 50: no jitter", tt.attempt, len(seen))
		}
	}
}
