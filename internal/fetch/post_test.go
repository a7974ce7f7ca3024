package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"eidp/internal/fetch"
)

// postRecord is what the server saw of one POST.
type postRecord struct {
	method, contentType, rawQuery, path string
	form                                url.Values
}

// newPostServer is a TLS server that records each request and answers with
// the status named by the path ("/204" answers 204; other paths 200).
func newPostServer(t *testing.T) (*testServer, func() []postRecord) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []postRecord
	)
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec := postRecord{method: r.Method, contentType: r.Header.Get("Content-Type"), rawQuery: r.URL.RawQuery, path: r.URL.Path}
		if err := r.ParseForm(); err == nil {
			rec.form = r.PostForm
		}
		mu.Lock()
		seen = append(seen, rec)
		mu.Unlock()
		if code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/")); err == nil {
			w.WriteHeader(code)
		}
		fmt.Fprint(w, "internal-answer-body")
	})
	return srv, func() []postRecord {
		mu.Lock()
		defer mu.Unlock()
		return append([]postRecord(nil), seen...)
	}
}

func TestPostFormSendsTheFormAndReturnsTheStatus(t *testing.T) {
	srv, seen := newPostServer(t)
	f := fetch.New(srv.options())
	form := url.Values{"logout_token": {"a.b.c"}}

	status, err := f.PostForm(t.Context(), srv.URL+"/backchannel?tenant=a", form)
	if err != nil || status != http.StatusOK {
		t.Fatalf("PostForm = %d, %v; want 200, nil", status, err)
	}
	status, err = f.PostForm(t.Context(), srv.URL+"/204", form)
	if err != nil || status != http.StatusNoContent {
		t.Fatalf("PostForm = %d, %v; want 204, nil", status, err)
	}
	got := seen()
	if len(got) != 2 {
		t.Fatalf("server saw %d requests, want 2 (nothing cached)", len(got))
	}
	first := got[0]
	if first.method != http.MethodPost || first.contentType != "application/x-www-form-urlencoded" {
		t.Errorf("method %q, Content-Type %q", first.method, first.contentType)
	}
	if first.rawQuery != "tenant=a" || first.path != "/backchannel" {
		t.Errorf("path %q, query %q: the registered URL was not kept", first.path, first.rawQuery)
	}
	if first.form.Get("logout_token") != "a.b.c" || len(first.form) != 1 {
		t.Errorf("form = %v", first.form)
	}

	// The same POST again is a new request: nothing is cached.
	if _, err := f.PostForm(t.Context(), srv.URL+"/backchannel", form); err != nil {
		t.Fatal(err)
	}
	if n := len(seen()); n != 3 {
		t.Errorf("server saw %d requests after a repeat, want 3", n)
	}
}

func TestPostFormReportsOtherStatusesWithoutTheBody(t *testing.T) {
	srv, _ := newPostServer(t)
	f := fetch.New(srv.options())
	for _, code := range []int{400, 404, 500, 503} {
		status, err := f.PostForm(t.Context(), fmt.Sprintf("%s/%d", srv.URL, code), url.Values{"logout_token": {"secret-token"}})
		if status != code {
			t.Errorf("%d: status = %d", code, status)
		}
		if !errors.Is(err, fetch.ErrStatus) || !strings.Contains(err.Error(), strconv.Itoa(code)) {
			t.Errorf("%d: err = %v, want ErrStatus naming the code", code, err)
			continue
		}
		if strings.Contains(err.Error(), "internal-answer") || strings.Contains(err.Error(), "secret-token") {
			t.Errorf("%d: error %q shows the body or the form", code, err)
		}
	}
}

func TestPostFormFollowsNoRedirect(t *testing.T) {
	hits := map[string]int{}
	var mu sync.Mutex
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		switch r.URL.Path {
		case "/307":
			http.Redirect(w, r, "/target", http.StatusTemporaryRedirect)
		case "/302":
			http.Redirect(w, r, "/target", http.StatusFound)
		}
	})
	opts := srv.options()
	opts.MaxRedirects = 5 // for Get; POST ignores it
	f := fetch.New(opts)
	for _, code := range []int{307, 302} {
		status, err := f.PostForm(t.Context(), fmt.Sprintf("%s/%d", srv.URL, code), url.Values{"logout_token": {"t"}})
		if status != code || !errors.Is(err, fetch.ErrStatus) || !strings.Contains(err.Error(), "redirect not followed") {
			t.Errorf("%d: PostForm = %d, %v; want %d and ErrStatus saying the redirect was not followed", code, status, err, code)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if hits["/target"] != 0 {
		t.Errorf("the redirect target got %d requests", hits["/target"])
	}
	if hits["/307"] != 1 || hits["/302"] != 1 {
		t.Errorf("hits = %v", hits)
	}
}

func TestPostFormRefusesPrivateAddressesUnlessAllowed(t *testing.T) {
	srv, seen := newPostServer(t)
	opts := srv.options()
	opts.AllowPrivateNetworks = false
	f := fetch.New(opts)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	// An IP literal is refused before dialing; a name that resolves to
	// loopback at dial time.
	for _, u := range []string{"https://127.0.0.1:" + port + "/", "https://localhost:" + port + "/"} {
		status, err := f.PostForm(t.Context(), u, url.Values{"logout_token": {"t"}})
		if status != 0 || !errors.Is(err, fetch.ErrForbiddenURL) {
			t.Errorf("%s: PostForm = %d, %v; want 0, ErrForbiddenURL", u, status, err)
		}
	}
	if n := len(seen()); n != 0 {
		t.Errorf("server got %d requests", n)
	}

	// The same server is reachable when private networks are allowed.
	if _, err := fetch.New(srv.options()).PostForm(t.Context(), "https://127.0.0.1:"+port+"/", nil); err != nil {
		t.Errorf("allowed: %v", err)
	}
}

func TestPostFormAppliesTheURLRules(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	for _, u := range []string{srv.URL, "https://example.com/logout#frag", "https://u:p@example.com/", "ftp://example.com/"} {
		_, err := fetch.New(fetch.Options{AllowPrivateNetworks: true}).PostForm(t.Context(), u, nil)
		if !errors.Is(err, fetch.ErrForbiddenURL) {
			t.Errorf("%s: err = %v, want ErrForbiddenURL", u, err)
		}
	}
	if _, err := fetch.New(fetch.Options{AllowPrivateNetworks: true, AllowHTTP: true}).PostForm(t.Context(), srv.URL, nil); err != nil {
		t.Errorf("http with AllowHTTP: %v", err)
	}
}

func TestPostFormTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			// Never answer: returning would send a 200 that can race the
			// client's close (its TLS close_notify goes out first).
			panic(http.ErrAbortHandler)
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	opts := srv.options()
	opts.Timeout = 200 * time.Millisecond
	status, err := fetch.New(opts).PostForm(t.Context(), srv.URL, nil)
	if status != 0 || !errors.Is(err, fetch.ErrTimeout) {
		t.Errorf("PostForm = %d, %v; want 0, ErrTimeout", status, err)
	}

	// A caller that gives up gets its own error, not a timeout.
	ctx, cancel := context.WithCancel(t.Context())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	_, err = fetch.New(srv.options()).PostForm(ctx, srv.URL, nil)
	if !errors.Is(err, context.Canceled) || errors.Is(err, fetch.ErrTimeout) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}
