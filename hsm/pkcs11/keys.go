//go:build cgo

package pkcs11

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	p11 "github.com/miekg/pkcs11"

	"eidp/hsm"
)

// idLen is the length of the random CKA_ID given to new keys.
const idLen = 16

// keyEntry is what the backend caches about one key, so that using the key
// needs no C_FindObjects (their cost grows with the number of objects).
type keyEntry struct {
	id     string // CKA_ID
	label  string // CKA_LABEL
	alg    hsm.Algorithm
	class  uint             // CKO_PRIVATE_KEY or CKO_SECRET_KEY
	handle p11.ObjectHandle // of the private or secret key
	public crypto.PublicKey // nil for AES, or when the public object is missing
	uri    string
}

func (e *keyEntry) info() hsm.KeyInfo {
	return hsm.KeyInfo{URI: e.uri, Label: e.label, Algorithm: e.alg, Public: e.public}
}

// CreateKey generates a token key: a key pair for EC, RSA and Ed25519, a
// secret key for AES-256. The private or secret half is a token object that
// is private, sensitive and not extractable (PKCS #11 v2.40 Base §4.9,
// §4.10) with only the usages it needs; both halves share a random 16-byte
// CKA_ID and CKA_LABEL = label.
func (b *Backend) CreateKey(ctx context.Context, label string, alg hsm.Algorithm) (hsm.KeyInfo, error) {
	if b.closed.Load() {
		return hsm.KeyInfo{}, b.errClosed()
	}
	if !slices.Contains(b.caps, alg) {
		return hsm.KeyInfo{}, fmt.Errorf("pkcs11: token %q: %w: %q (this token supports %v)", b.token.Label, hsm.ErrUnsupportedAlgorithm, alg, b.caps)
	}
	if !utf8.ValidString(label) {
		// CKA_LABEL is RFC 2279 UTF-8 (PKCS #11 v2.40 Base §4.4).
		return hsm.KeyInfo{}, fmt.Errorf("pkcs11: key label is not valid UTF-8")
	}
	id := make([]byte, idLen)
	if _, err := rand.Read(id); err != nil {
		return hsm.KeyInfo{}, fmt.Errorf("pkcs11: generating CKA_ID: %w", err)
	}
	var e *keyEntry
	err := b.withSession(ctx, func(h p11.SessionHandle) error {
		var err error
		e, err = b.generate(h, id, label, alg)
		return err
	})
	if err != nil {
		return hsm.KeyInfo{}, fmt.Errorf("pkcs11: token %q: creating %s key %q: %w", b.token.Label, alg, label, err)
	}
	b.store(e)
	return e.info(), nil
}

func (b *Backend) generate(h p11.SessionHandle, id []byte, label string, alg hsm.Algorithm) (*keyEntry, error) {
	common := func(class, keyType uint) []*p11.Attribute {
		return []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, class),
			p11.NewAttribute(p11.CKA_KEY_TYPE, keyType),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_ID, id),
			p11.NewAttribute(p11.CKA_LABEL, label),
		}
	}
	// Secret and private keys: PKCS #11 v2.40 Base §4.9/§4.10 — CKA_SENSITIVE
	// and not CKA_EXTRACTABLE keep the value inside the token for good;
	// CKA_PRIVATE needs a login to use it.
	protect := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_DERIVE, false),
	}

	if alg == hsm.AES256 {
		template := append(common(p11.CKO_SECRET_KEY, p11.CKK_AES), protect...)
		template = append(template,
			p11.NewAttribute(p11.CKA_VALUE_LEN, 32), // in bytes (AES secret key objects, v2.40 Current Mechanisms)
			p11.NewAttribute(p11.CKA_ENCRYPT, true),
			p11.NewAttribute(p11.CKA_DECRYPT, true),
			p11.NewAttribute(p11.CKA_SIGN, false),
			p11.NewAttribute(p11.CKA_VERIFY, false),
			// Wrapping and unwrapping (CKM_AES_KEY_WRAP_PAD) are what a
			// signing-kek does for residents' keys (wrapped.go).
			p11.NewAttribute(p11.CKA_WRAP, true),
			p11.NewAttribute(p11.CKA_UNWRAP, true),
		)
		// PKCS #11 v2.40 Base §5.14 C_GenerateKey with CKM_AES_KEY_GEN.
		key, err := b.mod.ctx.GenerateKey(h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, template)
		if err != nil {
			return nil, fmt.Errorf("C_GenerateKey: %w", err)
		}
		e, err := b.describe(h, id, key, p11.CKO_SECRET_KEY, 0, false)
		if err != nil {
			_ = b.mod.ctx.DestroyObject(h, key)
			return nil, err
		}
		return e, nil
	}

	mech, keyType, pubAttr, err := keyPairMechanism(alg)
	if err != nil {
		return nil, err
	}
	pubTemplate := append(common(p11.CKO_PUBLIC_KEY, keyType), pubAttr...)
	pubTemplate = append(pubTemplate,
		p11.NewAttribute(p11.CKA_PRIVATE, false),
		p11.NewAttribute(p11.CKA_VERIFY, true),
		p11.NewAttribute(p11.CKA_ENCRYPT, false),
		p11.NewAttribute(p11.CKA_WRAP, false),
	)
	privTemplate := append(common(p11.CKO_PRIVATE_KEY, keyType), protect...)
	privTemplate = append(privTemplate,
		p11.NewAttribute(p11.CKA_SIGN, true),
		p11.NewAttribute(p11.CKA_DECRYPT, false),
		p11.NewAttribute(p11.CKA_UNWRAP, false),
	)
	// PKCS #11 v2.40 Base §5.14 C_GenerateKeyPair.
	pub, priv, err := b.mod.ctx.GenerateKeyPair(h, []*p11.Mechanism{p11.NewMechanism(mech, nil)}, pubTemplate, privTemplate)
	if err != nil {
		return nil, fmt.Errorf("C_GenerateKeyPair: %w", err)
	}
	e, err := b.describe(h, id, priv, p11.CKO_PRIVATE_KEY, pub, true)
	if err != nil {
		_ = b.mod.ctx.DestroyObject(h, priv)
		_ = b.mod.ctx.DestroyObject(h, pub)
		return nil, err
	}
	return e, nil
}

// describe reads what the cache keeps about a key: label, algorithm (from
// CKA_KEY_TYPE, the curve or the modulus size) and public key.
func (b *Backend) describe(h p11.SessionHandle, id []byte, key p11.ObjectHandle, class uint, pub p11.ObjectHandle, hasPub bool) (*keyEntry, error) {
	a, err := b.attributes(h, key, p11.CKA_KEY_TYPE, p11.CKA_LABEL)
	if err != nil {
		return nil, err
	}
	keyType, err := ulong(a[p11.CKA_KEY_TYPE])
	if err != nil {
		return nil, err
	}
	e := &keyEntry{id: string(id), label: string(a[p11.CKA_LABEL]), class: class, handle: key}
	typ := TypePrivate
	switch {
	case class == p11.CKO_SECRET_KEY && keyType == p11.CKK_AES:
		v, err := b.attributes(h, key, p11.CKA_VALUE_LEN)
		if err != nil {
			return nil, err
		}
		if n, err := ulong(v[p11.CKA_VALUE_LEN]); err != nil || n != 32 {
			return nil, fmt.Errorf("%w: AES key of %d bytes", hsm.ErrUnsupportedAlgorithm, n)
		}
		e.alg, typ = hsm.AES256, TypeSecretKey
	case class == p11.CKO_PRIVATE_KEY && (keyType == p11.CKK_EC || keyType == ckkECEdwards):
		v, err := b.attributes(h, key, p11.CKA_EC_PARAMS)
		if err != nil {
			return nil, err
		}
		if e.alg, err = algorithmFromECParams(v[p11.CKA_EC_PARAMS]); err != nil {
			return nil, err
		}
		if (e.alg == hsm.Ed25519) != (keyType == ckkECEdwards) {
			return nil, fmt.Errorf("%w: key type 0x%x with curve %s", hsm.ErrUnsupportedAlgorithm, keyType, e.alg)
		}
		if hasPub {
			v, err := b.attributes(h, pub, p11.CKA_EC_POINT)
			if err != nil {
				return nil, err
			}
			if e.public, err = publicFromECPoint(e.alg, v[p11.CKA_EC_POINT]); err != nil {
				return nil, err
			}
		}
	case class == p11.CKO_PRIVATE_KEY && keyType == p11.CKK_RSA:
		// CKA_MODULUS and CKA_PUBLIC_EXPONENT are readable on the public
		// object, and on most tokens on the private one too (v2.40 Current
		// Mechanisms §2.1.2, §2.1.3).
		from := key
		if hasPub {
			from = pub
		}
		v, err := b.attributes(h, from, p11.CKA_MODULUS, p11.CKA_PUBLIC_EXPONENT)
		if err != nil {
			return nil, err
		}
		pk, alg, err := publicFromRSA(v[p11.CKA_MODULUS], v[p11.CKA_PUBLIC_EXPONENT])
		if err != nil {
			return nil, err
		}
		e.alg, e.public = alg, pk
	default:
		return nil, fmt.Errorf("%w: object class 0x%x with key type 0x%x", hsm.ErrUnsupportedAlgorithm, class, keyType)
	}
	e.uri = keyURI(b.token.Label, id, e.label, typ)
	return e, nil
}

// Key returns what the token holds for the key at uri.
func (b *Backend) Key(ctx context.Context, uri string) (hsm.KeyInfo, error) {
	if b.closed.Load() {
		return hsm.KeyInfo{}, b.errClosed()
	}
	u, err := b.parseKeyURI(uri)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	e, err := b.lookup(ctx, u)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	return e.info(), nil
}

// List returns every private and secret token key this backend can use,
// sorted by label and URI. Keys without a CKA_ID or of algorithms outside
// hsm.AllAlgorithms (another application's, say) are left out.
func (b *Backend) List(ctx context.Context) ([]hsm.KeyInfo, error) {
	if b.closed.Load() {
		return nil, b.errClosed()
	}
	var entries []*keyEntry
	err := b.withSession(ctx, func(h p11.SessionHandle) error {
		entries = entries[:0]
		find := func(class uint) ([]p11.ObjectHandle, error) {
			return b.findObjects(h, []*p11.Attribute{
				p11.NewAttribute(p11.CKA_TOKEN, true),
				p11.NewAttribute(p11.CKA_CLASS, class),
			})
		}
		pubs, err := find(p11.CKO_PUBLIC_KEY)
		if err != nil {
			return err
		}
		pubByID := map[string]p11.ObjectHandle{}
		for _, o := range pubs {
			a, err := b.attributes(h, o, p11.CKA_ID)
			if err != nil {
				return err
			}
			pubByID[string(a[p11.CKA_ID])] = o
		}
		for _, class := range []uint{p11.CKO_PRIVATE_KEY, p11.CKO_SECRET_KEY} {
			keys, err := find(class)
			if err != nil {
				return err
			}
			if len(keys) == 0 && class == p11.CKO_PRIVATE_KEY && !b.loggedIn(h) {
				return p11.Error(p11.CKR_USER_NOT_LOGGED_IN) // private objects are invisible: log in again
			}
			for _, o := range keys {
				a, err := b.attributes(h, o, p11.CKA_ID)
				if err != nil {
					return err
				}
				id := a[p11.CKA_ID]
				if len(id) == 0 {
					continue
				}
				pub, hasPub := pubByID[string(id)]
				e, err := b.describe(h, id, o, class, pub, hasPub)
				if errors.Is(err, hsm.ErrUnsupportedAlgorithm) {
					continue
				} else if err != nil {
					return err
				}
				entries = append(entries, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: token %q: listing keys: %w", b.token.Label, err)
	}
	slices.SortFunc(entries, func(x, y *keyEntry) int {
		if c := strings.Compare(x.label, y.label); c != 0 {
			return c
		}
		return strings.Compare(x.uri, y.uri)
	})
	infos := make([]hsm.KeyInfo, len(entries))
	for i, e := range entries {
		b.store(e)
		infos[i] = e.info()
	}
	return infos, nil
}

// Destroy deletes every token object with the key's CKA_ID (private, public
// or secret key, and anything else filed under that ID) and forgets the
// cached handles.
func (b *Backend) Destroy(ctx context.Context, uri string) error {
	if b.closed.Load() {
		return b.errClosed()
	}
	u, err := b.parseKeyURI(uri)
	if err != nil {
		return err
	}
	e, err := b.lookup(ctx, u)
	if err != nil {
		return err
	}
	err = b.withSession(ctx, func(h p11.SessionHandle) error {
		objs, err := b.findObjects(h, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_ID, []byte(e.id)),
		})
		if err != nil {
			return err
		}
		if len(objs) == 0 {
			if !b.loggedIn(h) {
				return p11.Error(p11.CKR_USER_NOT_LOGGED_IN)
			}
			// The cache was stale: another application destroyed the key.
			return fmt.Errorf("%w: no objects with id %X left", hsm.ErrKeyNotFound, []byte(e.id))
		}
		for _, o := range objs {
			// PKCS #11 v2.40 Base §5.7 C_DestroyObject. An object already
			// gone (destroyed concurrently) is what we wanted anyway.
			if err := b.mod.ctx.DestroyObject(h, o); err != nil && !isStaleHandle(err) {
				return fmt.Errorf("C_DestroyObject: %w", err)
			}
		}
		return nil
	})
	b.forget(e.id)
	if err != nil {
		return fmt.Errorf("pkcs11: token %q: destroying %s: %w", b.token.Label, e.uri, err)
	}
	return nil
}

// parseKeyURI parses uri and checks that it names this token (RFC 7512 §2.5:
// every attribute given must match). A URI for another token yields
// hsm.ErrKeyNotFound.
func (b *Backend) parseKeyURI(uri string) (*URI, error) {
	u, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	for _, c := range []struct{ name, want, have string }{
		{"token", u.Token, b.token.Label},
		{"serial", u.Serial, b.token.Serial},
		{"manufacturer", u.Manufacturer, b.token.Manufacturer},
		{"model", u.Model, b.token.Model},
	} {
		if c.want != "" && c.want != c.have {
			return nil, fmt.Errorf("pkcs11: %w: %s names %s %q but this backend serves token %q (%s %q)",
				hsm.ErrKeyNotFound, u, c.name, c.want, b.token.Label, c.name, c.have)
		}
	}
	return u, nil
}

// lookup returns the key that u names, from the cache or the token, and
// checks the URI's object label and type against it.
func (b *Backend) lookup(ctx context.Context, u *URI) (*keyEntry, error) {
	e, err := b.entry(ctx, string(u.ID))
	if err != nil {
		return nil, err
	}
	mismatch := ""
	switch {
	case u.Object != "" && u.Object != e.label:
		mismatch = fmt.Sprintf("its label is %q", e.label)
	case u.Type == TypeSecretKey && e.class != p11.CKO_SECRET_KEY,
		(u.Type == TypePrivate || u.Type == TypePublic) && e.class != p11.CKO_PRIVATE_KEY,
		u.Type == TypeCert || u.Type == TypeData:
		mismatch = fmt.Sprintf("it is a %s key", e.alg)
	}
	if mismatch != "" {
		return nil, fmt.Errorf("pkcs11: %w: %s: the key with this id on token %q does not match (%s)",
			hsm.ErrKeyNotFound, u, b.token.Label, mismatch)
	}
	return e, nil
}

// entry returns the cached key with CKA_ID id, or finds it on the token.
func (b *Backend) entry(ctx context.Context, id string) (*keyEntry, error) {
	b.mu.RLock()
	e := b.keys[id]
	b.mu.RUnlock()
	if e != nil {
		return e, nil
	}
	err := b.withSession(ctx, func(h p11.SessionHandle) error {
		var err error
		e, err = b.load(h, []byte(id))
		return err
	})
	if err != nil {
		return nil, err
	}
	b.store(e)
	return e, nil
}

// load finds the objects with CKA_ID id and describes the key among them.
func (b *Backend) load(h p11.SessionHandle, id []byte) (*keyEntry, error) {
	objs, err := b.findObjects(h, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_ID, id),
	})
	if err != nil {
		return nil, err
	}
	var (
		keys           []p11.ObjectHandle
		keyClass       uint
		pub            p11.ObjectHandle
		hasPub         bool
		unsupportedCls bool
	)
	for _, o := range objs {
		a, err := b.attributes(h, o, p11.CKA_CLASS)
		if err != nil {
			return nil, err
		}
		class, err := ulong(a[p11.CKA_CLASS])
		if err != nil {
			return nil, err
		}
		switch class {
		case p11.CKO_PRIVATE_KEY, p11.CKO_SECRET_KEY:
			keys, keyClass = append(keys, o), class
		case p11.CKO_PUBLIC_KEY:
			pub, hasPub = o, true
		default:
			unsupportedCls = true
		}
	}
	switch {
	case len(keys) == 1:
		return b.describe(h, id, keys[0], keyClass, pub, hasPub)
	case len(keys) > 1:
		return nil, fmt.Errorf("pkcs11: token %q holds %d keys with id %X: ambiguous", b.token.Label, len(keys), id)
	case !b.loggedIn(h):
		// Private objects are invisible without a login (PKCS #11 v2.40
		// Base §4.4 CKA_PRIVATE): have withSession log in again and retry.
		return nil, p11.Error(p11.CKR_USER_NOT_LOGGED_IN)
	case hasPub || unsupportedCls:
		return nil, fmt.Errorf("pkcs11: %w: token %q has objects with id %X but no private or secret key", hsm.ErrKeyNotFound, b.token.Label, id)
	default:
		return nil, fmt.Errorf("pkcs11: %w: no key with id %X on token %q", hsm.ErrKeyNotFound, id, b.token.Label)
	}
}

// loggedIn reports whether the session sees private objects.
func (b *Backend) loggedIn(h p11.SessionHandle) bool {
	if !b.needsPIN {
		return true
	}
	info, err := b.mod.ctx.GetSessionInfo(h)
	if err != nil {
		return false
	}
	// PKCS #11 v2.40 Base §3.3 session states.
	return info.State == p11.CKS_RW_USER_FUNCTIONS || info.State == p11.CKS_RO_USER_FUNCTIONS
}

func (b *Backend) store(e *keyEntry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed.Load() {
		b.keys[e.id] = e
	}
}

func (b *Backend) forget(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.keys, id)
}

// forgetEntry drops e from the cache unless it was replaced already.
func (b *Backend) forgetEntry(e *keyEntry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keys[e.id] == e {
		delete(b.keys, e.id)
	}
}

// withKey runs fn on a session with the key whose CKA_ID is id. If the
// cached handle turned stale (CKR_OBJECT_HANDLE_INVALID or
// CKR_KEY_HANDLE_INVALID: the object was destroyed, perhaps by another
// application), the key is looked up once more and fn retried.
func (b *Backend) withKey(ctx context.Context, id string, fn func(h p11.SessionHandle, e *keyEntry) error) error {
	e, err := b.entry(ctx, id)
	if err != nil {
		return err
	}
	err = b.withSession(ctx, func(h p11.SessionHandle) error { return fn(h, e) })
	if !isStaleHandle(err) {
		return err
	}
	b.forgetEntry(e)
	if e, err = b.entry(ctx, id); err != nil {
		return err
	}
	return b.withSession(ctx, func(h p11.SessionHandle) error { return fn(h, e) })
}

// keyPairMechanism is the key-pair generation mechanism, key type and
// public-template attributes for alg.
func keyPairMechanism(alg hsm.Algorithm) (mech, keyType uint, pubAttr []*p11.Attribute, err error) {
	switch alg {
	case hsm.ECP256, hsm.ECP384, hsm.Ed25519:
		params, err := ecParams(alg)
		if err != nil {
			return 0, 0, nil, err
		}
		// CKM_EC_KEY_PAIR_GEN: PKCS #11 v2.40 Current Mechanisms §2.3.5;
		// CKM_EC_EDWARDS_KEY_PAIR_GEN: PKCS #11 v3.0. Both take the curve
		// as CKA_EC_PARAMS on the public template.
		mech, keyType = p11.CKM_EC_KEY_PAIR_GEN, p11.CKK_EC
		if alg == hsm.Ed25519 {
			mech, keyType = ckmECEdwardsKeyPairGen, ckkECEdwards
		}
		pubAttr = []*p11.Attribute{p11.NewAttribute(p11.CKA_EC_PARAMS, params)}
	case hsm.RSA2048, hsm.RSA3072:
		bits := 2048
		if alg == hsm.RSA3072 {
			bits = 3072
		}
		// PKCS #11 v2.40 Current Mechanisms §2.1.4: CKA_MODULUS_BITS and
		// CKA_PUBLIC_EXPONENT (65537) on the public template.
		mech, keyType = p11.CKM_RSA_PKCS_KEY_PAIR_GEN, p11.CKK_RSA
		pubAttr = []*p11.Attribute{
			p11.NewAttribute(p11.CKA_MODULUS_BITS, bits),
			p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, []byte{0x01, 0x00, 0x01}),
		}
	default:
		return 0, 0, nil, fmt.Errorf("%w: %q", hsm.ErrUnsupportedAlgorithm, alg)
	}
	return mech, keyType, pubAttr, nil
}
