package hsm_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"eidp/hsm"
	"eidp/hsm/hsmtest"
	"eidp/hsm/soft"
)

type event struct {
	op  string
	alg hsm.Algorithm
	err error
}

// recorder collects what an Observer is told.
type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) observe(op string, alg hsm.Algorithm, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d < 0 {
		err = errors.Join(err, errors.New("negative duration"))
	}
	r.events = append(r.events, event{op, alg, err})
}

// take returns the events since the last call.
func (r *recorder) take() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

func TestObserveReportsEveryOperation(t *testing.T) {
	var rec recorder
	km := hsm.Observe(openSoft(t), rec.observe)
	ctx := t.Context()

	// expect checks the events of one step: their operations, algorithms
	// and whether each error wraps want (nil: no error).
	expect := func(step string, want ...event) {
		t.Helper()
		got := rec.take()
		if len(got) != len(want) {
			t.Fatalf("%s: observed %v, want %v", step, got, want)
		}
		for i := range want {
			if got[i].op != want[i].op || got[i].alg != want[i].alg || !errors.Is(got[i].err, want[i].err) ||
				(want[i].err == nil) != (got[i].err == nil) {
				t.Errorf("%s: observed %+v, want %+v", step, got[i], want[i])
			}
		}
	}

	ec, err := km.CreateKey(ctx, "observed-ec", hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	expect("CreateKey", event{"create", hsm.ECP256, nil})

	if _, err := km.Key(ctx, ec.URI); err != nil {
		t.Fatal(err)
	}
	expect("Key", event{"key", hsm.ECP256, nil})

	sg, err := km.Signer(ctx, ec.URI)
	if err != nil {
		t.Fatal(err)
	}
	expect("Signer", event{"key", hsm.ECP256, nil})

	d := sha256.Sum256([]byte("observed"))
	if _, err := sg.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if _, err := sg.SignContext(ctx, d[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	expect("Sign and SignContext", event{"sign", hsm.ECP256, nil}, event{"sign", hsm.ECP256, nil})
	if sg.URI() != ec.URI || sg.Algorithm() != hsm.ECP256 || sg.Public() == nil {
		t.Errorf("the wrapped signer describes its key as %s, %s", sg.URI(), sg.Algorithm())
	}

	aes, err := km.CreateKey(ctx, "observed-aes", hsm.AES256)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := km.Encrypt(ctx, aes.URI, []byte("x"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = km.Decrypt(ctx, aes.URI, sealed, []byte("other aad"))
	if !errors.Is(err, hsm.ErrDecrypt) {
		t.Fatalf("Decrypt with other AAD: %v", err)
	}
	expect("CreateKey, Encrypt, Decrypt",
		event{"create", hsm.AES256, nil}, event{"encrypt", hsm.AES256, nil}, event{"decrypt", hsm.AES256, hsm.ErrDecrypt})

	if _, err := km.List(ctx); err != nil {
		t.Fatal(err)
	}
	if err := km.Destroy(ctx, ec.URI); err != nil {
		t.Fatal(err)
	}
	_, err = km.Signer(ctx, ec.URI)
	expect("List, Destroy, Signer of a destroyed key",
		event{"list", "", nil}, event{"destroy", "", nil}, event{"key", "", hsm.ErrKeyNotFound})

	if km.Name() != "soft" {
		t.Errorf("Name() = %q, want the backend's", km.Name())
	}
}

func TestObserveWithoutObserverReturnsTheKeyManager(t *testing.T) {
	km := openSoft(t)
	if got := hsm.Observe(km, nil); got != hsm.KeyManager(km) {
		t.Errorf("Observe(km, nil) = %T, want km itself", got)
	}
}

// The wrapper must keep the whole contract: run the conformance suite
// through it.
func TestObservedKeyManagerConforms(t *testing.T) {
	dir := t.TempDir()
	master, wrong := make([]byte, 32), make([]byte, 32)
	rand.Read(master)
	rand.Read(wrong)
	var rec recorder
	hsmtest.Run(t, hsmtest.Harness{
		Open: func(t *testing.T) hsm.KeyManager {
			s, err := soft.Open(t.Context(), soft.Options{Dir: dir, MasterKey: master})
			if err != nil {
				t.Fatal(err)
			}
			return hsm.Observe(s, rec.observe)
		},
		OpenWithWrongCredential: func(t *testing.T) error {
			s, err := soft.Open(t.Context(), soft.Options{Dir: dir, MasterKey: wrong})
			if err == nil {
				s.Close()
			}
			return err
		},
	})
	if len(rec.take()) == 0 {
		t.Error("the observer saw nothing")
	}
}
