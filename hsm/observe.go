package hsm

import (
	"context"
	"crypto"
	"io"
	"time"
)

// Observer is told about every operation of an observed KeyManager: its name
// ("create", "key", "sign", "encrypt", "decrypt", "list", "destroy"), the
// algorithm when known (empty otherwise), how long it took, and its error.
// Metrics and tracing hook in here, so that backends stay free of them.
// Observers are called concurrently and should return quickly.
type Observer func(op string, alg Algorithm, d time.Duration, err error)

// Observe wraps km so that obs sees each of its operations. Signers it returns
// are wrapped too, so every signature is observed ("sign"). Looking up a
// signer is a "key" operation. Encrypt and Decrypt report AES256, the only
// algorithm they accept. Capabilities, Name and Close are not observed.
//
// The wrapper implements KeyManager only: optional interfaces of km are not
// visible through it.
func Observe(km KeyManager, obs Observer) KeyManager {
	if obs == nil {
		return km
	}
	return &observed{km: km, obs: obs}
}

type observed struct {
	km  KeyManager
	obs Observer
}

// since reports an operation that started at start.
func (o *observed) since(op string, alg Algorithm, start time.Time, err error) {
	o.obs(op, alg, time.Since(start), err)
}

func (o *observed) CreateKey(ctx context.Context, label string, alg Algorithm) (KeyInfo, error) {
	start := time.Now()
	info, err := o.km.CreateKey(ctx, label, alg)
	o.since("create", alg, start, err)
	return info, err
}

func (o *observed) Key(ctx context.Context, uri string) (KeyInfo, error) {
	start := time.Now()
	info, err := o.km.Key(ctx, uri)
	o.since("key", info.Algorithm, start, err)
	return info, err
}

func (o *observed) Signer(ctx context.Context, uri string) (Signer, error) {
	start := time.Now()
	s, err := o.km.Signer(ctx, uri)
	if err != nil {
		o.since("key", "", start, err)
		return nil, err
	}
	o.since("key", s.Algorithm(), start, nil)
	return &observedSigner{Signer: s, obs: o.obs}, nil
}

func (o *observed) Encrypt(ctx context.Context, uri string, plaintext, aad []byte) ([]byte, error) {
	start := time.Now()
	out, err := o.km.Encrypt(ctx, uri, plaintext, aad)
	o.since("encrypt", AES256, start, err)
	return out, err
}

func (o *observed) Decrypt(ctx context.Context, uri string, sealed, aad []byte) ([]byte, error) {
	start := time.Now()
	out, err := o.km.Decrypt(ctx, uri, sealed, aad)
	o.since("decrypt", AES256, start, err)
	return out, err
}

func (o *observed) List(ctx context.Context) ([]KeyInfo, error) {
	start := time.Now()
	keys, err := o.km.List(ctx)
	o.since("list", "", start, err)
	return keys, err
}

func (o *observed) Destroy(ctx context.Context, uri string) error {
	start := time.Now()
	err := o.km.Destroy(ctx, uri)
	o.since("destroy", "", start, err)
	return err
}

func (o *observed) Capabilities() []Algorithm { return o.km.Capabilities() }
func (o *observed) Name() string              { return o.km.Name() }
func (o *observed) Close() error              { return o.km.Close() }

// observedSigner reports each signature. Public, Algorithm and URI come
// from the embedded Signer.
type observedSigner struct {
	Signer
	obs Observer
}

func (s *observedSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	start := time.Now()
	sig, err := s.Signer.Sign(rand, digest, opts)
	s.obs("sign", s.Algorithm(), time.Since(start), err)
	return sig, err
}

func (s *observedSigner) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	start := time.Now()
	sig, err := s.Signer.SignContext(ctx, digest, opts)
	s.obs("sign", s.Algorithm(), time.Since(start), err)
	return sig, err
}
