package vault_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"eidp/internal/testenv"
	"eidp/vault"
)

// Benchmarks of attribute writes and reads on SQLite, per key backend, with
// the data-key cache warm (keys unwrapped once) and cold (no cache: every
// operation unwraps its data key through the key backend). Run them with
//
//	go test ./vault -run '^$' -bench . -benchmem
//
// with the SoftHSM2 variables set as ./scripts/test sets them. Each
// benchmark takes one SoftHSM2 token.

const benchResidents = 100

// benchSetups prepares, per key backend, a database with benchResidents
// residents holding five attributes each, and runs bench with a warm and a
// cold vault as sub-benchmarks backend/warm and backend/cold.
func benchSetups(b *testing.B, bench func(b *testing.B, v *vault.Vault, residents []string)) {
	ctx := context.Background()
	for _, kb := range keyBackends(b) {
		fx := newFixture(b, testenv.OpenDB(b, testenv.SQLite(b)), kb.km)
		residents := make([]string, benchResidents)
		for i := range residents {
			residents[i] = fx.resident(b)
			for _, name := range []string{"address", "phone", "email", "name_zh", "postal"} {
				put(b, fx.v, residents[i], name, map[string]string{
					"address": address, "phone": phone, "email": email, "name_zh": nameZH, "postal": postal}[name])
			}
		}
		for _, mode := range []struct {
			name      string
			cacheSize int
		}{{"warm", 0}, {"cold", -1}} {
			v := fx.open(vault.Options{CacheSize: mode.cacheSize})
			for _, r := range residents { // fill the cache
				if _, err := v.Get(ctx, r, "phone"); err != nil {
					b.Fatal(err)
				}
			}
			b.Run(kb.name+"/"+mode.name, func(b *testing.B) {
				b.ReportAllocs()
				bench(b, v, residents)
			})
		}
	}
}

// BenchmarkPut writes one attribute (seal, then a transaction that checks
// the data key and updates the row).
func BenchmarkPut(b *testing.B) {
	benchSetups(b, func(b *testing.B, v *vault.Vault, residents []string) {
		ctx := context.Background()
		p := vault.Provenance{Source: "resident"}
		i := 0
		for b.Loop() {
			value := json.RawMessage(fmt.Sprintf(`"Flat %d, Tower 3, Harbour View Gardens"`, i))
			if _, err := v.Put(ctx, residents[i%len(residents)], "address", value, p, -1); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "attrs/s")
	})
}

// BenchmarkGet reads and decrypts a resident's five attributes.
func BenchmarkGet(b *testing.B) {
	benchSetups(b, func(b *testing.B, v *vault.Vault, residents []string) {
		ctx := context.Background()
		i := 0
		for b.Loop() {
			attrs, err := v.Get(ctx, residents[i%len(residents)])
			if err != nil || len(attrs) != 5 {
				b.Fatalf("Get: %d attributes, %v", len(attrs), err)
			}
			i++
		}
		b.ReportMetric(float64(5*i)/b.Elapsed().Seconds(), "attrs/s")
	})
}
