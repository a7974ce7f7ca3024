package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestTrustedProxiesFindTheRealClient(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, peer, xff, want string
	}{
		{"a direct client is itself", "198.51.100.1:5000", "203.0.113.9", "198.51.100.1"},
		{"through our proxy, the address it saw", "10.1.2.3:5000", "203.0.113.9", "203.0.113.9"},
		{"a forged left part is ignored", "10.1.2.3:5000", "1.2.3.4, 203.0.113.9", "203.0.113.9"},
		{"through two of our proxies", "192.0.2.7:443", "203.0.113.9, 10.9.9.9", "203.0.113.9"},
		{"a malformed hop stops the walk", "10.1.2.3:5000", "203.0.113.9, garbage", "10.1.2.3"},
		{"no header: the proxy itself", "10.1.2.3:5000", "", "10.1.2.3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			h := TrustedProxies(trusted)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = ClientAddr(r) }))
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tc.peer
			if tc.xff != "" {
				req.Header.Set("X-Forwarded-For", tc.xff)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if got != tc.want {
				t.Fatalf("client %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := ParseTrustedProxies("10.0.0.0/8, proxy.example"); err == nil {
		t.Fatal("a host name was accepted")
	}
}
