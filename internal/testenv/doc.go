// Package testenv gives tests the real components eidp runs on, each fresh
// and thrown away when the test ends: databases on both engines (a SQLite
// file in the test's temp dir, a database in the throwaway PostgreSQL
// cluster that ./scripts/test starts), and the HSM token.
//
// A component that is not configured skips the test locally and fails it
// under CI=true, so that CI never passes by skipping. Store conformance
// tests run once per engine:
//
//	for _, d := range testenv.Databases(t) {
//		t.Run(string(d.Engine), func(t *testing.T) {
//			store := NewStore(testenv.OpenDB(t, d.URL))
//			…
//		})
//	}
package testenv
