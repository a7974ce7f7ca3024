package provider_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"eidp/hsm"
	"eidp/hsm/testkeys"
	"eidp/idp/provider"
	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/vault"
)

// The server-side benchmarks of the OpenID Provider: real HTTP requests
// to the provider served by httptest on loopback, on both database
// engines, and for the endpoints that sign (token) on both key backends.
// Sub-benchmarks are named engine/backend[/variant], e.g.
// BenchmarkClientCredentials/sqlite/softhsm2.
//
// Every benchmark drives the server from b.RunParallel (GOMAXPROCS client
// goroutines, each with its own kept-alive connection), as a server under
// concurrent load sees it. The client runs in the same process on the same
// cores, so ns/op is wall time per request with client and server sharing
// the CPUs, and the CPU metrics below include the client's share.
//
// Besides ns/op and allocations (of client and server together), each
// reports
//
//	cpu-ns/op     CPU time of this process (server and client) per op
//	pg-cpu-ns/op  CPU time of the PostgreSQL backends serving this database
//	              per op (PostgreSQL only; 0 when their /proc entries
//	              cannot be read, e.g. a remote server)
//
// Run them with ./scripts/bench, or:
//
//	go test ./idp/provider -run '^$' -bench . -benchmem -benchtime 2s -count 6
//
// with EIDP_TEST_POSTGRES_URL and the SoftHSM2 variables set as
// ./scripts/test sets them. Each round of a benchmark that uses SoftHSM2
// (ClientCredentials, CodeExchange, UserinfoVault) takes one token, and the
// test process prepares EIDP_TEST_SOFTHSM_TOKENS of them (default 12):
// raise it to 3 × -count + 2 for all three (./scripts/bench does).

// keyBackend is a key manager to sign with.
type keyBackend struct {
	name string
	km   hsm.KeyManager
}

// backends opens the soft backend and, if withHSM, SoftHSM2 through
// PKCS#11 (one fresh token shared by the engines; a missing SoftHSM2
// skips, or fails under CI=true).
func backends(b *testing.B, withHSM bool) []keyBackend {
	out := []keyBackend{{"soft", testkeys.Soft(b)}}
	if withHSM {
		out = append(out, keyBackend{"softhsm2", testkeys.SoftHSM(b)})
	}
	return out
}

// eachSetup builds one fixture per engine and backend — each on its own
// fresh database, since a keyring's keys live in one key manager — and
// runs bench on it as sub-benchmark engine/backend. The fixtures are built
// once, outside the sub-benchmarks that the testing package calls again
// with growing b.N.
func eachSetup(b *testing.B, withHSM bool, bench func(b *testing.B, fx *opFixture)) {
	eachVariant(b, withHSM, []fixtureVariant{{}}, bench)
}

// fixtureVariant is one configuration of the fixture: name is the
// sub-benchmark below engine/backend ("" for none), vault the vault's
// options.
type fixtureVariant struct {
	name  string
	vault vault.Options
}

// eachVariant is eachSetup with one fixture, on its own fresh database,
// per engine, backend and variant: sub-benchmarks engine/backend/variant.
func eachVariant(b *testing.B, withHSM bool, variants []fixtureVariant, bench func(b *testing.B, fx *opFixture)) {
	kms := backends(b, withHSM)
	dbs := make([][][]testenv.Database, len(kms)) // backend, variant, engine
	for i := range kms {
		dbs[i] = make([][]testenv.Database, len(variants))
		for v := range variants {
			dbs[i][v] = testenv.Databases(b)
		}
	}
	build := func(b *testing.B, i, v, e int) *opFixture {
		fx := newOPFixtureWith(b, testenv.OpenDB(b, dbs[i][v][e].URL), kms[i].km, provider.Options{
			TokenRateLimit: 0, // no per-address limit: all requests come from 127.0.0.1
			Log:            slog.New(slog.DiscardHandler),
		}, variants[v].vault)
		fx.consentToWeb(b)
		return fx
	}
	for e := range dbs[0][0] {
		b.Run(string(dbs[0][0][e].Engine), func(b *testing.B) {
			for i, k := range kms {
				if len(variants) == 1 && variants[0].name == "" {
					fx := build(b, i, 0, e)
					b.Run(k.name, func(b *testing.B) { bench(b, fx) })
					continue
				}
				// A benchmark that has sub-benchmarks runs once: the
				// fixtures are built once here too.
				b.Run(k.name, func(b *testing.B) {
					for v, variant := range variants {
						fx := build(b, i, v, e)
						b.Run(variant.name, func(b *testing.B) { bench(b, fx) })
					}
				})
			}
		})
	}
}

// parallel runs op from b.RunParallel and reports the CPU metrics; the
// first error stops the benchmark.
func parallel(b *testing.B, fx *opFixture, op func(ctx context.Context) error) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	cpu := startCPU(b, fx.DB)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	cpu.report(b)
}

// BenchmarkClientCredentials: POST /token with grant_type=client_credentials
// and HTTP Basic client authentication; each answer carries a fresh ES256
// access token (RFC 9068), signed by the key backend.
func BenchmarkClientCredentials(b *testing.B) {
	eachSetup(b, true, func(b *testing.B, fx *opFixture) {
		parallel(b, fx, func(ctx context.Context) error {
			_, err := fx.clientCredentials(ctx)
			return err
		})
	})
}

// BenchmarkCodeExchange: the server's part of a resident's login to a
// department once the resident is logged in and has consented.
//
//	authorize+exchange  GET /authorize with the session cookie (303 with a
//	                    code straight to the redirect_uri: request stored,
//	                    bound, code and grant issued) and POST /token with
//	                    the code (client authenticated, code redeemed, ES256
//	                    access and ID tokens signed, refresh token stored):
//	                    two requests per op.
//	exchange            POST /token alone, on codes made before the timer
//	                    starts.
func BenchmarkCodeExchange(b *testing.B) {
	eachSetup(b, true, func(b *testing.B, fx *opFixture) {
		b.Run("authorize+exchange", func(b *testing.B) {
			parallel(b, fx, func(ctx context.Context) error {
				code, err := fx.authorize(ctx, "bench-nonce")
				if err != nil {
					return err
				}
				_, err = fx.exchange(ctx, code)
				return err
			})
		})
		b.Run("exchange", func(b *testing.B) {
			// Codes live 60 s (provider.codeTTL): made right before they are
			// used, by as many goroutines as the benchmark has.
			codes := make([]string, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			var mu sync.Mutex
			var failed error
			start := time.Now()
			for range 4 {
				wg.Go(func() {
					for i := next.Add(1) - 1; i < int64(len(codes)); i = next.Add(1) - 1 {
						code, err := fx.authorize(context.Background(), "bench-nonce")
						if err != nil {
							mu.Lock()
							failed = err
							mu.Unlock()
							return
						}
						codes[i] = code
					}
				})
			}
			wg.Wait()
			if failed != nil {
				b.Fatal(failed)
			}
			if took := time.Since(start); took > 30*time.Second {
				b.Fatalf("making %d codes took %v: too close to their 60 s lifetime; lower -benchtime", b.N, took)
			}
			next.Store(0)
			parallel(b, fx, func(ctx context.Context) error {
				_, err := fx.exchange(ctx, codes[next.Add(1)-1])
				return err
			})
		})
	})
}

// BenchmarkUserinfo: GET /userinfo with a valid access token (signature
// checked with the public key, revocation and grant looked up, resident
// read). Verification needs no private key, so only the soft backend runs.
func BenchmarkUserinfo(b *testing.B) {
	eachSetup(b, false, func(b *testing.B, fx *opFixture) {
		at := fx.codeFlowTokens(b).AccessToken
		parallel(b, fx, func(ctx context.Context) error {
			info, err := fx.userinfo(ctx, at)
			if err == nil && info["sub"] == nil {
				err = fmt.Errorf("userinfo without sub: %v", info)
			}
			return err
		})
	})
}

// BenchmarkIntrospection: POST /introspect (RFC 7662) by the client the
// token was issued to, with HTTP Basic authentication; soft backend only,
// as for userinfo.
func BenchmarkIntrospection(b *testing.B) {
	eachSetup(b, false, func(b *testing.B, fx *opFixture) {
		at := fx.codeFlowTokens(b).AccessToken
		parallel(b, fx, func(ctx context.Context) error {
			in, err := fx.introspect(ctx, at)
			if err == nil && in["active"] != true {
				err = fmt.Errorf("introspection: %v, want active", in)
			}
			return err
		})
	})
}

// benchVaultResidents is how many residents BenchmarkUserinfoVault's
// requests take turns with: a server serves many residents at once, and
// two concurrent releases for one resident would queue on the resident's
// access-log chain (vault/accesslog serialises appends per resident).
const benchVaultResidents = 16

// BenchmarkUserinfoVault: GET /userinfo releasing five vault claims
// (address, phone_number, email, eidp_occupation, eidp_emergency_contact)
// besides sub: everything BenchmarkUserinfo does, then the consent record
// read, the five attributes read and decrypted under the resident's data
// key, each re-validated and shaped as its claim, and one access-log entry
// appended (a write transaction) before the answer leaves. The requests
// take turns over benchVaultResidents residents, each with their own
// vault, consent and access token.
//
//	warm  the vault's default data-key cache: the data keys were unwrapped
//	      by the first requests, so the key backend is not called
//	cold  no cache (vault.Options{CacheSize: -1}): every request unwraps
//	      the resident's data key with the vault-kek key in the backend
//	      (on SoftHSM2, a PKCS#11 C_UnwrapKey or C_Decrypt)
func BenchmarkUserinfoVault(b *testing.B) {
	tokens := map[*opFixture][]string{}
	eachVariant(b, true, []fixtureVariant{{"warm", vault.Options{}}, {"cold", vault.Options{CacheSize: -1}}},
		func(b *testing.B, fx *opFixture) {
			if tokens[fx] == nil {
				tokens[fx] = vaultTokens(b, fx, benchVaultResidents)
			}
			ats := tokens[fx]
			var next atomic.Uint64
			parallel(b, fx, func(ctx context.Context) error {
				info, err := fx.userinfo(ctx, ats[next.Add(1)%uint64(len(ats))])
				if err != nil {
					return err
				}
				for _, name := range vaultClaimNames {
					if info[name] == nil {
						return fmt.Errorf("userinfo without %s: %v", name, info)
					}
				}
				return nil
			})
		})
}

// vaultTokens registers a vault client and n residents, each with
// fixtureVaultValues in the vault, a consent to the client for
// fixtureVaultScope and its five claims, and an access token for them; it
// returns the tokens.
func vaultTokens(b *testing.B, fx *opFixture, n int) []string {
	c, secret := fx.newVaultClient(b, "Benchmark department")
	ctx := context.Background()
	out := make([]string, n)
	for i := range out {
		r, _, cookie := fx.newResident(b, fmt.Sprintf("B%07d", i))
		fx.fillVault(b, r.ID)
		fx.consentTo(b, r.ID, c.ClientID, strings.Fields(fixtureVaultScope), vaultClaimNames)
		code, err := fx.authorizeFor(ctx, authzRequest{ClientID: c.ClientID, Cookie: cookie, Scope: fixtureVaultScope, Nonce: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		tr, err := fx.exchangeFor(ctx, c.ClientID, secret, code)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = tr.AccessToken
	}
	return out
}

// cpuMeter measures CPU time over a benchmark's timed part: this process's
// (getrusage) and, on PostgreSQL, that of the backends serving the
// benchmark's database (/proc/PID/stat of the pids pg_stat_activity lists).
type cpuMeter struct {
	d       *db.DB
	self    time.Duration
	backend map[int]time.Duration
}

func startCPU(b *testing.B, d *db.DB) *cpuMeter {
	m := &cpuMeter{d: d, self: selfCPU(b)}
	m.backend = m.backends()
	return m
}

// report adds cpu-ns/op and pg-cpu-ns/op to b's results.
func (m *cpuMeter) report(b *testing.B) {
	if b.N == 0 {
		return
	}
	b.ReportMetric(float64(selfCPU(b)-m.self)/float64(b.N), "cpu-ns/op")
	if m.d.Engine != db.EnginePostgres {
		return
	}
	var pg time.Duration
	for pid, t := range m.backends() {
		pg += t - m.backend[pid] // a backend started since counts whole
	}
	b.ReportMetric(float64(pg)/float64(b.N), "pg-cpu-ns/op")
}

func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backends returns the CPU time of each PostgreSQL backend connected to
// the benchmark's database, or nil if they cannot be read.
func (m *cpuMeter) backends() map[int]time.Duration {
	if m.d.Engine != db.EnginePostgres {
		return nil
	}
	rows, err := m.d.QueryContext(context.Background(),
		`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		return nil
	}
	defer rows.Close()
	out := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) != nil {
			return nil
		}
		if t, ok := procCPU(pid); ok {
			out[pid] = t
		}
	}
	return out
}

// procCPU reads utime+stime of a process from /proc/PID/stat (fields 14
// and 15, in clock ticks of 1/100 s on Linux).
func procCPU(pid int) (time.Duration, bool) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(line[i+1:]) // fields[0] is field 3
	if len(fields) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(fields[11], 10, 64)
	st, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const tick = 10 * time.Millisecond // USER_HZ = 100 on Linux
	return time.Duration(ut+st) * tick, true
}
