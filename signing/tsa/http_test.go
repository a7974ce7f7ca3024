package tsa_test

import (
	"bytes"
	"crypto"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"eidp/signing/cms/cmstest"
	"eidp/signing/tsa"
)

func post(t *testing.T, url, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestServeHTTP(t *testing.T) {
	f := newFixture(t, "P-256")
	srv := httptest.NewServer(f.authority(t, true))
	t.Cleanup(srv.Close)
	req, err := tsa.NewRequest(crypto.SHA256, sha(crypto.SHA256, data), nil, true)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a query is answered with a token", func(t *testing.T) {
		resp, body := post(t, srv.URL, "application/timestamp-query", req)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/timestamp-reply" {
			t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		token, err := tsa.ParseResponse(body)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tsa.ParseToken(token)
		if err != nil {
			t.Fatal(err)
		}
		if err := tok.Verify(crypto.SHA256, sha(crypto.SHA256, data), cmstest.Pool(f.pki.Root), nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a bad query is answered with a rejection, still 200", func(t *testing.T) {
		resp, body := post(t, srv.URL, "application/timestamp-query", []byte("nonsense"))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var se *tsa.StatusError
		if _, err := tsa.ParseResponse(body); !errors.As(err, &se) || se.FailInfo[0] != tsa.BadDataFormat {
			t.Fatalf("%v", err)
		}
	})
	t.Run("GET is not allowed", func(t *testing.T) {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Fatalf("%d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	t.Run("another media type is refused", func(t *testing.T) {
		for _, ct := range []string{"application/octet-stream", "", "application/timestamp-reply"} {
			if resp, _ := post(t, srv.URL, ct, req); resp.StatusCode != http.StatusUnsupportedMediaType {
				t.Fatalf("%q: %d", ct, resp.StatusCode)
			}
		}
	})
	t.Run("a media type with parameters is accepted", func(t *testing.T) {
		if resp, _ := post(t, srv.URL, "application/timestamp-query; charset=binary", req); resp.StatusCode != http.StatusOK {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("a body over 64 KiB is refused", func(t *testing.T) {
		if resp, _ := post(t, srv.URL, "application/timestamp-query", make([]byte, tsa.MaxRequestSize+1)); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
}

type brokenHSM struct{ crypto.Signer }

func (brokenHSM) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("CKR_DEVICE_ERROR")
}

func TestServeHTTPWhenTheHSMFails(t *testing.T) {
	f := newFixture(t, "P-256")
	var logs bytes.Buffer
	a, err := tsa.New(brokenHSM{f.key}, f.cert, nil, policy, tsa.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	req, _ := tsa.NewRequest(crypto.SHA256, sha(crypto.SHA256, data), nil, false)
	resp, body := post(t, srv.URL, "application/timestamp-query", req)
	var se *tsa.StatusError
	if _, err := tsa.ParseResponse(body); resp.StatusCode != http.StatusOK || !errors.As(err, &se) || se.FailInfo[0] != tsa.SystemFailure {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	if strings.Contains(se.Text, "CKR_DEVICE_ERROR") {
		t.Errorf("the client sees the internal cause: %q", se.Text)
	}
	if !strings.Contains(logs.String(), "CKR_DEVICE_ERROR") {
		t.Errorf("the cause is not logged: %q", logs.String())
	}
}
