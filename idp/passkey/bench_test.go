package passkey_test

import (
	"context"
	"runtime"
	"testing"

	"eidp/idp/passkey"
	"eidp/idp/passkey/passkeytest"
	"eidp/internal/testenv"
)

// BenchmarkLogin measures a whole discoverable login as the server does it:
// BeginLogin (challenge stored), the software authenticator's assertion
// (one P-256 signature, client side), FinishLogin (challenge consumed,
// credential read, signature verified, counter and last use written in a
// transaction). "sequential" is one login after another (latency);
// "parallel" runs GOMAXPROCS residents at once, each with its own passkey
// (throughput).
//
//	go test -run '^$' -bench BenchmarkLogin ./idp/passkey/
func BenchmarkLogin(b *testing.B) {
	for _, d := range testenv.Databases(b) {
		b.Run(string(d.Engine), func(b *testing.B) {
			database := testenv.OpenDB(b, d.URL)
			svc := newService(b, database, passkey.Policy{})
			type device struct {
				a    *passkeytest.Authenticator
				flow string
			}
			newDevice := func() device {
				a := passkeytest.NewAuthenticator(origin)
				register(b, svc, a, addResident(b, database))
				return device{a: a, flow: newFlow(b)}
			}
			loginOnce := func(ctx context.Context, dev device) error {
				opts, err := svc.BeginLogin(ctx, dev.flow)
				if err != nil {
					return err
				}
				resp, err := dev.a.Get(opts)
				if err != nil {
					return err
				}
				_, err = svc.FinishLogin(ctx, dev.flow, resp)
				return err
			}

			b.Run("sequential", func(b *testing.B) {
				ctx := context.Background()
				dev := newDevice()
				b.ReportAllocs()
				for b.Loop() {
					if err := loginOnce(ctx, dev); err != nil {
						b.Fatal(passkey.LogDetail(err))
					}
				}
			})

			b.Run("parallel", func(b *testing.B) {
				ctx := context.Background()
				devices := make(chan device, runtime.GOMAXPROCS(0))
				for range cap(devices) {
					devices <- newDevice()
				}
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					dev := <-devices
					for pb.Next() {
						if err := loginOnce(ctx, dev); err != nil {
							b.Error(passkey.LogDetail(err))
							return
						}
					}
				})
			})
		})
	}
}
