//go:build cgo

package pkcs11

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	p11 "github.com/miekg/pkcs11"

	"eidp/hsm"
)

// Edwards-curve mechanisms and key type of PKCS #11 v3.0 (Current Mechanisms
// §2.3, Table "Elliptic curve mechanisms") that miekg/pkcs11 v1.1 lacks.
const (
	ckmECEdwardsKeyPairGen = 0x1055 // CKM_EC_EDWARDS_KEY_PAIR_GEN
	ckmEdDSA               = 0x1057 // CKM_EDDSA
	ckkECEdwards           = 0x40   // CKK_EC_EDWARDS
)

// Backend is a hsm.KeyManager on one PKCS #11 token. It is safe for
// concurrent use; concurrency is bounded by the session pool.
type Backend struct {
	mod      *module
	slot     uint
	token    tokenInfo
	pin      string // for re-login after a session is replaced; never logged
	needsPIN bool
	caps     []hsm.Algorithm
	pool     *sessionPool

	mu   sync.RWMutex
	keys map[string]*keyEntry // by string(CKA_ID)

	closed atomic.Bool

	// Counters for tests and diagnostics.
	finds    atomic.Int64 // C_FindObjectsInit calls
	replaced atomic.Int64 // sessions replaced after a dead-session error
}

var _ hsm.KeyManager = (*Backend)(nil)

// tokenInfo is what identifies the token in URIs (RFC 7512 §2.3 token attributes).
type tokenInfo struct {
	Label, Serial, Manufacturer, Model string
}

func (t tokenInfo) key() string { return t.Serial + "\x00" + t.Label }

// Open loads the module (once per process), finds the token labelled
// opts.TokenLabel, logs in as CKU_USER and returns a Backend with a pool of
// opts.Sessions read/write sessions. A wrong PIN yields an error wrapping
// hsm.ErrAuth; a missing module or token yields hsm.ErrUnavailable.
func Open(ctx context.Context, opts Options) (*Backend, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pkcs11: opening token %q: %w", opts.TokenLabel, err)
	}
	mod, err := acquireModule(opts.Module)
	if err != nil {
		return nil, err
	}
	b, err := open(ctx, mod, opts)
	if err != nil {
		mod.release()
		return nil, err
	}
	return b, nil
}

func open(ctx context.Context, mod *module, opts Options) (*Backend, error) {
	slot, info, flags, err := findToken(mod, opts.TokenLabel)
	if err != nil {
		return nil, err
	}
	b := &Backend{
		mod:   mod,
		slot:  slot,
		token: info,
		pin:   opts.PIN,
		// PKCS #11 v2.40 Base §3.2 CK_TOKEN_INFO: CKF_LOGIN_REQUIRED says
		// whether some functions need a login. Log in whenever a PIN is given.
		needsPIN: flags&p11.CKF_LOGIN_REQUIRED != 0 || opts.PIN != "",
		keys:     map[string]*keyEntry{},
	}
	if flags&p11.CKF_LOGIN_REQUIRED != 0 && opts.PIN == "" {
		return nil, fmt.Errorf("pkcs11: token %q requires a user PIN and none was given: %w", info.Label, hsm.ErrAuth)
	}
	if b.caps, err = capabilities(mod.ctx, slot); err != nil {
		return nil, fmt.Errorf("pkcs11: token %q: C_GetMechanismList: %w", info.Label, err)
	}
	b.pool = newSessionPool(opts.Sessions)
	// Open and log in the first session now, so that a wrong PIN or a
	// token refusing sessions fails Open rather than the first signature.
	s, err := b.pool.get(ctx)
	if err != nil {
		return nil, err
	}
	if err := b.openSession(s); err != nil {
		b.pool.put(s)
		b.pool.close(b.closeSession)
		return nil, err
	}
	b.pool.put(s)
	return b, nil
}

// findToken returns the slot of the initialised token labelled label.
func findToken(mod *module, label string) (uint, tokenInfo, uint, error) {
	// PKCS #11 v2.40 Base §5.5 C_GetSlotList(tokenPresent=true).
	slots, err := mod.ctx.GetSlotList(true)
	if err != nil {
		return 0, tokenInfo{}, 0, fmt.Errorf("pkcs11: C_GetSlotList of module %s: %w: %w", mod.path, hsm.ErrUnavailable, err)
	}
	var labels []string
	type match struct {
		slot  uint
		info  tokenInfo
		flags uint
	}
	var matches []match
	for _, slot := range slots {
		ti, err := mod.ctx.GetTokenInfo(slot)
		if err != nil || ti.Flags&p11.CKF_TOKEN_INITIALIZED == 0 {
			continue // a slot that went away or an uninitialised token
		}
		info := tokenInfo{
			Label:        trimPadded(ti.Label),
			Serial:       trimPadded(ti.SerialNumber),
			Manufacturer: trimPadded(ti.ManufacturerID),
			Model:        trimPadded(ti.Model),
		}
		labels = append(labels, info.Label)
		if info.Label == label {
			matches = append(matches, match{slot, info, ti.Flags})
		}
	}
	switch len(matches) {
	case 1:
		return matches[0].slot, matches[0].info, matches[0].flags, nil
	case 0:
		slices.Sort(labels)
		avail := "none"
		if len(labels) > 0 {
			avail = fmt.Sprintf("%q", labels)
		}
		return 0, tokenInfo{}, 0, fmt.Errorf("pkcs11: no token labelled %q in module %s (available token labels: %s): %w: %w",
			label, mod.path, avail, ErrTokenNotFound, hsm.ErrUnavailable)
	default:
		serials := make([]string, len(matches))
		for i, m := range matches {
			serials[i] = m.info.Serial
		}
		return 0, tokenInfo{}, 0, fmt.Errorf("pkcs11: %d tokens are labelled %q in module %s (serials %q): relabel one: %w: %w",
			len(matches), label, mod.path, serials, ErrTokenNotFound, hsm.ErrUnavailable)
	}
}

// trimPadded trims the blank (and NUL) padding of CK_TOKEN_INFO strings.
func trimPadded(s string) string { return strings.TrimRight(s, " \x00") }

// capabilities lists the algorithms whose generation and use mechanisms
// the token announces (PKCS #11 v2.40 Base §5.5 C_GetMechanismList).
func capabilities(ctx *p11.Ctx, slot uint) ([]hsm.Algorithm, error) {
	list, err := ctx.GetMechanismList(slot)
	if err != nil {
		return nil, err
	}
	has := map[uint]bool{}
	for _, m := range list {
		has[m.Mechanism] = true
	}
	needs := map[hsm.Algorithm][]uint{
		hsm.ECP256:  {p11.CKM_EC_KEY_PAIR_GEN, p11.CKM_ECDSA},
		hsm.ECP384:  {p11.CKM_EC_KEY_PAIR_GEN, p11.CKM_ECDSA},
		hsm.RSA2048: {p11.CKM_RSA_PKCS_KEY_PAIR_GEN, p11.CKM_RSA_PKCS, p11.CKM_RSA_PKCS_PSS},
		hsm.RSA3072: {p11.CKM_RSA_PKCS_KEY_PAIR_GEN, p11.CKM_RSA_PKCS, p11.CKM_RSA_PKCS_PSS},
		hsm.Ed25519: {ckmECEdwardsKeyPairGen, ckmEdDSA},
		hsm.AES256:  {p11.CKM_AES_KEY_GEN, p11.CKM_AES_GCM},
	}
	var caps []hsm.Algorithm
	for _, alg := range hsm.AllAlgorithms {
		ok := true
		for _, m := range needs[alg] {
			ok = ok && has[m]
		}
		if ok {
			caps = append(caps, alg)
		}
	}
	return caps, nil
}

// Name identifies the backend in logs and metrics.
func (b *Backend) Name() string { return "pkcs11" }

// Capabilities lists the algorithms CreateKey accepts on this token:
// Ed25519 only when the token has CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA.
func (b *Backend) Capabilities() []hsm.Algorithm { return slices.Clone(b.caps) }

// Close returns the sessions to the token; later calls fail with
// hsm.ErrClosed. Keys stay on the token. The module stays loaded (see module).
func (b *Backend) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.pool.close(b.closeSession)
	b.mu.Lock()
	b.keys = map[string]*keyEntry{}
	b.mu.Unlock()
	b.mod.release()
	return nil
}

func (b *Backend) errClosed() error {
	return fmt.Errorf("pkcs11: token %q: %w", b.token.Label, hsm.ErrClosed)
}

// session is one slot of the pool. open is false until the slot holds a
// logged-in session handle, and again after a dead handle was discarded.
type session struct {
	h    p11.SessionHandle
	open bool
}

// sessionPool hands out sessions. A session runs one operation of a kind at
// a time (a second C_SignInit returns CKR_OPERATION_ACTIVE, PKCS #11 v2.40
// Base §5.11), so each goroutine takes its own.
type sessionPool struct {
	idle chan *session
	done chan struct{}

	mu     sync.Mutex
	closed bool
	closer func(*session) // set by close; closes sessions put back later
}

func newSessionPool(n int) *sessionPool {
	p := &sessionPool{idle: make(chan *session, n), done: make(chan struct{})}
	for range n {
		p.idle <- &session{}
	}
	return p
}

// get waits for a free session, for ctx, or for Close.
func (p *sessionPool) get(ctx context.Context) (*session, error) {
	select {
	case <-p.done:
		return nil, hsm.ErrClosed
	default:
	}
	select {
	case s := <-p.idle:
		select {
		case <-p.done: // Close won the race: do not start new work.
			p.put(s)
			return nil, hsm.ErrClosed
		default:
			return s, nil
		}
	case <-p.done:
		return nil, hsm.ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("pkcs11: waiting for a session: %w", ctx.Err())
	}
}

// put returns s to the pool; after close it closes s instead.
func (p *sessionPool) put(s *session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.closer(s)
		return
	}
	p.idle <- s // never blocks: the channel has room for every slot
}

// close closes the idle sessions with closeFn; sessions in use are closed
// when they are put back.
func (p *sessionPool) close(closeFn func(*session)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.closer = closeFn
	close(p.done)
	for {
		select {
		case s := <-p.idle:
			closeFn(s)
		default:
			return
		}
	}
}

// openSession opens a read/write session in slot s and logs it in
// (PKCS #11 v2.40 Base §5.6 C_OpenSession with CKF_SERIAL_SESSION, which
// §5.6 requires, and CKF_RW_SESSION, needed to create token objects).
func (b *Backend) openSession(s *session) error {
	h, err := b.mod.ctx.OpenSession(b.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("pkcs11: token %q: C_OpenSession: %w", b.token.Label, err)
	}
	if err := b.login(h); err != nil {
		_ = b.mod.ctx.CloseSession(h)
		return err
	}
	s.h, s.open = h, true
	return nil
}

// closeSession closes s's handle if it has one. C_CloseSession, never
// C_CloseAllSessions: other Backends may hold sessions on the same token.
func (b *Backend) closeSession(s *session) {
	if s.open {
		_ = b.mod.ctx.CloseSession(s.h)
		s.open = false
	}
}

// login logs the application in as CKU_USER. Login state belongs to the
// application, not the session (PKCS #11 v2.40 Base §5.6 C_Login), hence
// CKR_USER_ALREADY_LOGGED_IN is success, unless this process logged in to the
// token with a different PIN (see module.pinMACs).
func (b *Backend) login(h p11.SessionHandle) error {
	if !b.needsPIN {
		return nil
	}
	err := b.mod.ctx.Login(h, p11.CKU_USER, b.pin)
	rv, _ := returnValue(err)
	switch {
	case err == nil:
		b.mod.rememberPIN(b.token.key(), b.pin)
		return nil
	case rv == p11.CKR_USER_ALREADY_LOGGED_IN:
		if b.mod.knownWrongPIN(b.token.key(), b.pin) {
			return fmt.Errorf("pkcs11: logging in to token %q: the PIN differs from the one this process is logged in with: %w",
				b.token.Label, hsm.ErrAuth)
		}
		return nil
	case isAuthFailure(rv):
		// The PKCS #11 error names the cause (CKR_PIN_INCORRECT...); the PIN
		// itself is never part of the message.
		return fmt.Errorf("pkcs11: logging in to token %q as user: %w: %w", b.token.Label, hsm.ErrAuth, err)
	default:
		return fmt.Errorf("pkcs11: logging in to token %q as user: %w", b.token.Label, err)
	}
}

// isAuthFailure reports the C_Login return values that mean "wrong or
// unusable PIN" (PKCS #11 v2.40 Base §5.1.x and §5.6 C_Login).
func isAuthFailure(rv uint) bool {
	switch rv {
	case p11.CKR_PIN_INCORRECT, p11.CKR_PIN_INVALID, p11.CKR_PIN_LEN_RANGE,
		p11.CKR_PIN_EXPIRED, p11.CKR_PIN_LOCKED, p11.CKR_USER_PIN_NOT_INITIALIZED:
		return true
	}
	return false
}

// isDeadSession reports errors after which the session cannot be used
// again: it was closed or lost its login, the token went away, or it is
// stuck in an operation. Such a session is replaced.
func isDeadSession(err error) bool {
	rv, ok := returnValue(err)
	if !ok {
		return false
	}
	switch rv {
	case p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED,
		p11.CKR_DEVICE_REMOVED, p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_DEVICE_ERROR,
		p11.CKR_USER_NOT_LOGGED_IN, p11.CKR_OPERATION_ACTIVE:
		return true
	}
	return false
}

// isStaleHandle reports errors that mean the cached object handle no longer
// names an object (it was destroyed, possibly by another application).
func isStaleHandle(err error) bool {
	rv, ok := returnValue(err)
	return ok && (rv == p11.CKR_OBJECT_HANDLE_INVALID || rv == p11.CKR_KEY_HANDLE_INVALID)
}

// withSession runs fn on a pooled session. If fn fails because the session
// is dead, the session is closed, a new one is opened and logged in, and fn
// runs once more.
func (b *Backend) withSession(ctx context.Context, fn func(h p11.SessionHandle) error) error {
	if b.closed.Load() {
		return b.errClosed()
	}
	s, err := b.pool.get(ctx)
	if errors.Is(err, hsm.ErrClosed) {
		return b.errClosed()
	} else if err != nil {
		return err
	}
	defer b.pool.put(s)
	if !s.open {
		if err := b.openSession(s); err != nil {
			return err
		}
	}
	err = fn(s.h)
	if !isDeadSession(err) {
		return err
	}
	b.closeSession(s)
	b.replaced.Add(1)
	if err2 := b.openSession(s); err2 != nil {
		return fmt.Errorf("%w (replacing a session that failed with: %w)", err2, err)
	}
	return fn(s.h)
}

// findObjects runs C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal
// (PKCS #11 v2.40 Base §5.7) and returns every match.
func (b *Backend) findObjects(h p11.SessionHandle, template []*p11.Attribute) ([]p11.ObjectHandle, error) {
	b.finds.Add(1)
	if err := b.mod.ctx.FindObjectsInit(h, template); err != nil {
		return nil, fmt.Errorf("pkcs11: C_FindObjectsInit: %w", err)
	}
	var all []p11.ObjectHandle
	for {
		objs, _, err := b.mod.ctx.FindObjects(h, 100)
		if err != nil {
			_ = b.mod.ctx.FindObjectsFinal(h)
			return nil, fmt.Errorf("pkcs11: C_FindObjects: %w", err)
		}
		if len(objs) == 0 {
			break
		}
		all = append(all, objs...)
	}
	if err := b.mod.ctx.FindObjectsFinal(h); err != nil {
		return nil, fmt.Errorf("pkcs11: C_FindObjectsFinal: %w", err)
	}
	return all, nil
}

// attributes reads the given attribute types of object o.
func (b *Backend) attributes(h p11.SessionHandle, o p11.ObjectHandle, types ...uint) (map[uint][]byte, error) {
	template := make([]*p11.Attribute, len(types))
	for i, t := range types {
		template[i] = p11.NewAttribute(t, nil)
	}
	attrs, err := b.mod.ctx.GetAttributeValue(h, o, template)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: C_GetAttributeValue: %w", err)
	}
	m := make(map[uint][]byte, len(attrs))
	for _, a := range attrs {
		m[a.Type] = a.Value
	}
	return m, nil
}

// ulong decodes a CK_ULONG attribute value (native byte order and size).
func ulong(v []byte) (uint, error) {
	switch len(v) {
	case 8:
		return uint(binary.NativeEndian.Uint64(v)), nil
	case 4:
		return uint(binary.NativeEndian.Uint32(v)), nil
	}
	return 0, fmt.Errorf("pkcs11: CK_ULONG attribute of %d bytes", len(v))
}
