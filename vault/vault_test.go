package vault_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/internal/db"
	"eidp/vault"
)

// TestVault runs the vault's conformance cases on soft and SoftHSM2 keys ×
// SQLite and PostgreSQL.
func TestVault(t *testing.T) {
	kms := keyBackends(t)
	tests := []struct {
		name string
		run  func(t *testing.T, fx *fixture)
	}{
		{"returns what was put, with provenance and version", testRoundTrip},
		{"gets all attributes or the named ones, in name order", testGetAllOrSome},
		{"writes only from the version the writer read", testExpectedVersions},
		{"deletes by version or unconditionally", testDelete},
		{"refuses bad input with a clear error and changes nothing", testBadInput},
		{"refuses a write for an unknown resident", testUnknownResident},
		{"tells how to create the KEK when there is none", testNoKEK},
		{"does not decrypt a ciphertext moved to another resident", testMovedToAnotherResident},
		{"does not decrypt a ciphertext moved to another attribute", testMovedToAnotherAttribute},
		{"does not decrypt a row relabelled with another schema or key version", testRelabelled},
		{"does not unwrap a data key copied to another resident or altered", testWrappedKeyTampered},
		{"reads across a KEK rotation, before and after the rewrap", testKEKRotation},
		{"resumes an interrupted rewrap and survives concurrent rewraps", testRewrapResumes},
		{"re-encrypts every attribute when a data key is rotated", testDataKeyRotation},
		{"crypto-shreds on erase: reads say erased, a write starts anew", testErase},
		{"stores no plaintext value anywhere in the database", testNoPlaintextAtRest},
		{"lets exactly one of concurrent writes from the same version win", testConcurrentSameVersion},
		{"loses no update under concurrent read-modify-write", testNoLostUpdates},
		{"creates one data key for concurrent first writes", testConcurrentFirstWrites},
		{"caches data keys briefly and zeroes them when they leave", testCache},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { eachSetup(t, kms, tc.run) })
	}
}

func testRoundTrip(t *testing.T, fx *fixture) {
	ctx := t.Context()
	r := fx.resident(t)
	a, err := fx.v.Put(ctx, r, "address", json.RawMessage(address), vault.Provenance{Source: "department:housing", Verified: true, UpdatedAt: time.Unix(1, 0)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := fx.clock.Now()
	if a.Name != "address" || string(a.Value) != address || a.Source != "department:housing" || !a.Verified || a.Version != 1 || !a.UpdatedAt.Equal(now) {
		t.Fatalf("Put returned %+v (value %s); want address v1 from department:housing, verified, updated now", a, a.Value)
	}
	fx.clock.Advance(time.Minute)
	put(t, fx.v, r, "postal", postal)
	put(t, fx.v, r, "name_zh", nameZH)
	if _, err := fx.v.Put(ctx, r, "phone", json.RawMessage(phone), vault.Provenance{Source: "resident"}, 0); err != nil {
		t.Fatal(err)
	}
	for _, v := range []*vault.Vault{fx.v, fx.open(vault.Options{})} { // warm, then cold cache
		got, err := v.Get(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 {
			t.Fatalf("Get: %d attributes, want 4", len(got))
		}
		addr := got[0]
		if addr.Name != "address" || string(addr.Value) != address || addr.Source != "department:housing" || !addr.Verified ||
			addr.Version != 1 || !addr.UpdatedAt.Equal(now) {
			t.Errorf("Get address = %+v (value %s), want what Put returned", addr, addr.Value)
		}
		ph := got[2]
		if ph.Name != "phone" || string(ph.Value) != phone || ph.Source != "resident" || ph.Verified || !ph.UpdatedAt.Equal(now.Add(time.Minute)) {
			t.Errorf("Get phone = %+v (value %s)", ph, ph.Value)
		}
		if got[1].Name != "name_zh" || string(got[1].Value) != nameZH || got[3].Name != "postal" || string(got[3].Value) != postal {
			t.Errorf("Get: %s = %s, %s = %s; want name_zh and postal", got[1].Name, got[1].Value, got[3].Name, got[3].Value)
		}
	}
}

func testGetAllOrSome(t *testing.T, fx *fixture) {
	r, other := fx.resident(t), fx.resident(t)
	for _, n := range []string{"phone", "address", "email", "nationality", "birth_place"} {
		put(t, fx.v, r, n, strconv.Quote(n+" of "+r))
	}
	put(t, fx.v, other, "address", address)

	attrs, err := fx.v.Get(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range attrs {
		names = append(names, a.Name)
		if string(a.Value) != strconv.Quote(a.Name+" of "+r) {
			t.Errorf("%s = %s", a.Name, a.Value)
		}
	}
	if got := strings.Join(names, ","); got != "address,birth_place,email,nationality,phone" {
		t.Errorf("Get all: names %s, want all five in name order", got)
	}
	attrs, err = fx.v.Get(t.Context(), r, "phone", "missing", "address", "phone")
	if err != nil {
		t.Fatal(err)
	}
	if len(attrs) != 2 || attrs[0].Name != "address" || attrs[1].Name != "phone" {
		t.Errorf("Get(phone, missing, address, phone) = %v, want address and phone once each", attrs)
	}
	if attrs, err := fx.v.Get(t.Context(), r, "missing"); err != nil || len(attrs) != 0 {
		t.Errorf("Get(missing) = %v, %v; want nothing and no error", attrs, err)
	}
	if attrs, err := fx.v.Get(t.Context(), fx.resident(t)); err != nil || len(attrs) != 0 {
		t.Errorf("Get for a resident without a vault = %v, %v; want nothing and no error", attrs, err)
	}
	wantValues(t, fx.v, other, map[string]string{"address": address})
}

func testExpectedVersions(t *testing.T, fx *fixture) {
	ctx := t.Context()
	r := fx.resident(t)
	p := vault.Provenance{Source: "resident"}
	putV := func(value string, expect int64) (vault.Attribute, error) {
		return fx.v.Put(ctx, r, "email", json.RawMessage(value), p, expect)
	}
	if a, err := putV(`"one@example.hk"`, 0); err != nil || a.Version != 1 {
		t.Fatalf("create: %+v, %v", a, err)
	}
	_, err := putV(`"again@example.hk"`, 0)
	wantErr(t, "create when it exists", err, vault.ErrConflict)
	if a, err := putV(`"two@example.hk"`, 1); err != nil || a.Version != 2 {
		t.Fatalf("update from 1: %+v, %v", a, err)
	}
	_, err = putV(`"stale@example.hk"`, 1)
	wantErr(t, "update from a stale version", err, vault.ErrConflict)
	_, err = putV(`"future@example.hk"`, 7)
	wantErr(t, "update from a version never written", err, vault.ErrConflict)
	wantValues(t, fx.v, r, map[string]string{"email": `"two@example.hk"`})
	if a, err := putV(`"three@example.hk"`, -1); err != nil || a.Version != 3 {
		t.Fatalf("unconditional update: %+v, %v", a, err)
	}
	_, err = fx.v.Put(ctx, r, "phone", json.RawMessage(phone), p, 1)
	wantErr(t, "update of a missing attribute", err, vault.ErrConflict)
	if got := values(t, fx.v, r, "phone"); len(got) != 0 {
		t.Fatalf("a refused update created %v", got)
	}
	if a, err := fx.v.Put(ctx, r, "phone", json.RawMessage(phone), p, -1); err != nil || a.Version != 1 {
		t.Fatalf("unconditional create: %+v, %v", a, err)
	}
	attrs, _ := fx.v.Get(ctx, r, "email")
	if len(attrs) != 1 || attrs[0].Version != 3 || string(attrs[0].Value) != `"three@example.hk"` {
		t.Fatalf("email after the writes: %+v", attrs)
	}
}

func testDelete(t *testing.T, fx *fixture) {
	ctx := t.Context()
	r := fx.resident(t)
	put(t, fx.v, r, "address", address)
	put(t, fx.v, r, "address", address) // version 2
	put(t, fx.v, r, "phone", phone)

	wantErr(t, "delete from a stale version", fx.v.Delete(ctx, r, "address", 1), vault.ErrConflict)
	wantValues(t, fx.v, r, map[string]string{"address": address, "phone": phone})
	if err := fx.v.Delete(ctx, r, "address", 2); err != nil {
		t.Fatalf("delete from the current version: %v", err)
	}
	wantValues(t, fx.v, r, map[string]string{"phone": phone})
	wantErr(t, "delete a deleted attribute", fx.v.Delete(ctx, r, "address", -1), vault.ErrNotFound)
	wantErr(t, "delete a deleted attribute by version", fx.v.Delete(ctx, r, "address", 2), vault.ErrNotFound)
	if err := fx.v.Delete(ctx, r, "phone", -1); err != nil {
		t.Fatalf("unconditional delete: %v", err)
	}
	wantValues(t, fx.v, r, map[string]string{})
	// The vault stays: a new attribute uses the same data key.
	before := fx.rawDataKey(t, r)
	put(t, fx.v, r, "email", email)
	if after := fx.rawDataKey(t, r); !bytes.Equal(after.wrapped, before.wrapped) {
		t.Error("deleting every attribute replaced the data key")
	}
}

func testBadInput(t *testing.T, fx *fixture) {
	ctx := t.Context()
	r := fx.resident(t)
	put(t, fx.v, r, "address", address)
	state := func() string {
		a := fx.raw(t, r)["address"]
		k := fx.rawDataKey(t, r)
		return fmt.Sprintf("%d attrs, %d keys, %d erasures, address v%d %x, key %x",
			fx.count(t, `SELECT COUNT(*) FROM vault_attributes`), fx.count(t, `SELECT COUNT(*) FROM vault_data_keys`),
			fx.count(t, `SELECT COUNT(*) FROM vault_erasures`), a.version, a.ciphertext, k.wrapped)
	}
	before := state()
	reg := vault.Provenance{Source: "register"}
	value := json.RawMessage(phone)
	tests := []struct {
		name string
		call func() error
	}{
		{"a put without resident", func() error { _, err := fx.v.Put(ctx, "", "phone", value, reg, -1); return err }},
		{"a resident ID with a space", func() error { _, err := fx.v.Put(ctx, "a b", "phone", value, reg, -1); return err }},
		{"a resident ID of 129 characters", func() error {
			_, err := fx.v.Put(ctx, strings.Repeat("r", 129), "phone", value, reg, -1)
			return err
		}},
		{"an empty attribute name", func() error { _, err := fx.v.Put(ctx, r, "", value, reg, -1); return err }},
		{"an attribute name with a newline", func() error { _, err := fx.v.Put(ctx, r, "pho\nne", value, reg, -1); return err }},
		{"an attribute name of 101 characters", func() error {
			_, err := fx.v.Put(ctx, r, strings.Repeat("n", 101), value, reg, -1)
			return err
		}},
		{"a value that is not JSON", func() error {
			_, err := fx.v.Put(ctx, r, "address", json.RawMessage(`Flat 12B`), reg, -1)
			return err
		}},
		{"an empty value", func() error { _, err := fx.v.Put(ctx, r, "address", nil, reg, -1); return err }},
		{"a value over 64 KiB", func() error {
			_, err := fx.v.Put(ctx, r, "address", json.RawMessage(strconv.Quote(strings.Repeat("x", 64<<10))), reg, -1)
			return err
		}},
		{"no provenance source", func() error { _, err := fx.v.Put(ctx, r, "address", value, vault.Provenance{}, -1); return err }},
		{"an unknown provenance source", func() error {
			_, err := fx.v.Put(ctx, r, "address", value, vault.Provenance{Source: "police"}, -1)
			return err
		}},
		{"a department without an ID", func() error {
			_, err := fx.v.Put(ctx, r, "address", value, vault.Provenance{Source: "department:"}, -1)
			return err
		}},
		{"an expected version below -1", func() error { _, err := fx.v.Put(ctx, r, "address", value, reg, -2); return err }},
		{"a get with a bad name", func() error { _, err := fx.v.Get(ctx, r, "address", "bad name"); return err }},
		{"a get of 201 names", func() error {
			names := make([]string, 201)
			for i := range names {
				names[i] = "n" + strconv.Itoa(i)
			}
			_, err := fx.v.Get(ctx, r, names...)
			return err
		}},
		{"a get without resident", func() error { _, err := fx.v.Get(ctx, ""); return err }},
		{"a delete expecting version 0", func() error { return fx.v.Delete(ctx, r, "address", 0) }},
		{"a delete expecting version -3", func() error { return fx.v.Delete(ctx, r, "address", -3) }},
		{"an erase without resident", func() error { return fx.v.Erase(ctx, "") }},
		{"a data-key rotation without resident", func() error { return fx.v.RotateDataKey(ctx, " ") }},
		{"a rewrap of batch 0", func() error { _, _, err := fx.v.RewrapKeys(ctx, 0); return err }},
	}
	for _, tc := range tests {
		err := tc.call()
		if !errors.Is(err, vault.ErrInvalid) {
			t.Errorf("%s: error %v, want one wrapping ErrInvalid", tc.name, err)
			continue
		}
		if strings.Contains(err.Error(), "Flat 12B") {
			t.Errorf("%s: the error repeats the value: %v", tc.name, err)
		}
	}
	if after := state(); after != before {
		t.Errorf("refused calls changed the database:\nbefore %s\nafter  %s", before, after)
	}
}

func testUnknownResident(t *testing.T, fx *fixture) {
	_, err := fx.v.Put(t.Context(), "no-such-resident", "address", json.RawMessage(address), vault.Provenance{Source: "register"}, -1)
	wantErr(t, "put for an unknown resident", err, vault.ErrInvalid)
	if !strings.Contains(err.Error(), "no resident no-such-resident") {
		t.Errorf("error %q does not say the resident is unknown", err)
	}
	if n := fx.count(t, `SELECT COUNT(*) FROM vault_data_keys`); n != 0 {
		t.Errorf("%d data keys stored for an unknown resident", n)
	}
}

func testNoKEK(t *testing.T, fx *fixture) {
	// A database whose keyring has no vault-kek key yet.
	d, err := db.Open(t.Context(), "sqlite:"+t.TempDir()+"/nokek.db", db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	other := &fixture{db: d, km: fx.km, ring: keyring.New(d, fx.km), clock: fx.clock}
	v := other.open(vault.Options{})
	r := other.resident(t)
	_, err = v.Put(t.Context(), r, "address", json.RawMessage(address), vault.Provenance{Source: "register"}, -1)
	wantErr(t, "put without a vault-kek key", err, keyring.ErrNoActiveKey)
	if !strings.Contains(err.Error(), "eidp keys create --role vault-kek") {
		t.Errorf("error %q does not say how to create the key", err)
	}
	if _, _, err := v.RewrapKeys(t.Context(), 10); !errors.Is(err, keyring.ErrNoActiveKey) {
		t.Errorf("rewrap without a vault-kek key: %v", err)
	}
}

// wantDecryptError fails unless err is ErrDecrypt naming attribute and
// repeating no value.
func wantDecryptError(t *testing.T, what string, err error, attribute string) {
	t.Helper()
	wantErr(t, what, err, vault.ErrDecrypt)
	if attribute != "" && !strings.Contains(err.Error(), "attribute "+attribute) {
		t.Errorf("%s: error %q does not name the attribute %s", what, err, attribute)
	}
	for _, v := range []string{"Flat 12B", "Tower", "5555", "mei.ling", "Gloucester"} {
		if strings.Contains(err.Error(), v) {
			t.Errorf("%s: error %q contains a value", what, err)
		}
	}
}

func testMovedToAnotherResident(t *testing.T, fx *fixture) {
	ctx := t.Context()
	a, b := fx.resident(t), fx.resident(t)
	put(t, fx.v, a, "address", address)
	put(t, fx.v, a, "email", email)
	put(t, fx.v, b, "address", `"Room 5, 1 Queen's Road"`)

	// A's address ciphertext copied over B's.
	fx.exec(t, `UPDATE vault_attributes SET ciphertext = $1 WHERE resident_id = $2 AND name = 'address'`, fx.raw(t, a)["address"].ciphertext, b)
	for _, v := range []*vault.Vault{fx.v, fx.open(vault.Options{})} {
		_, err := v.Get(ctx, b)
		wantDecryptError(t, "Get after the copy", err, "address")
	}
	// A's email row moved to B as a whole.
	if n := fx.exec(t, `UPDATE vault_attributes SET resident_id = $1 WHERE resident_id = $2 AND name = 'email'`, b, a); n != 1 {
		t.Fatalf("moved %d rows", n)
	}
	_, err := fx.v.Get(ctx, b, "email")
	wantDecryptError(t, "Get of the moved row", err, "email")
	// A's remaining data is untouched.
	wantValues(t, fx.open(vault.Options{}), a, map[string]string{"address": address})
}

func testMovedToAnotherAttribute(t *testing.T, fx *fixture) {
	ctx := t.Context()
	r := fx.resident(t)
	put(t, fx.v, r, "address", address)
	put(t, fx.v, r, "phone", phone)
	// Same resident, same data key: only the associated data tells them apart.
	fx.exec(t, `UPDATE vault_attributes SET ciphertext = $1 WHERE resident_id = $2 AND name = 'phone'`, fx.raw(t, r)["address"].ciphertext, r)
	for _, v := range []*vault.Vault{fx.v, fx.open(vault.Options{})} {
		_, err := v.Get(ctx, r)
		wantDecryptError(t, "Get after the swap", err, "phone")
		// Only the altered row fails: the address still reads.
		if got := values(t, v, r, "address"); got["address"] != address {
			t.Errorf("Get(address) = %v", got)
		}
	}
}

func testRelabelled(t *testing.T, fx *fixture) {
	ctx := t.Context()
	r := fx.resident(t)
	v7 := fx.open(vault.Options{SchemaVersion: 7})
	put(t, v7, r, "address", address)
	if got := fx.raw(t, r)["address"]; got.schema != 7 || got.keyVersion != 1 {
		t.Fatalf("stored schema %d, key version %d; want 7 and 1", got.schema, got.keyVersion)
	}
	// A vault writing another schema version reads the row with its own.
	wantValues(t, fx.v, r, map[string]string{"address": address})

	relabel := []struct{ column, value string }{{"schema_version", "8"}, {"key_version", "2"}}
	for _, rl := range relabel {
		fx.exec(t, `UPDATE vault_attributes SET `+rl.column+` = `+rl.value+` WHERE resident_id = $1`, r)
		_, err := fx.v.Get(ctx, r)
		wantDecryptError(t, rl.column+" changed", err, "address")
		fx.exec(t, `UPDATE vault_attributes SET schema_version = 7, key_version = 1 WHERE resident_id = $1`, r)
		wantValues(t, fx.v, r, map[string]string{"address": address})
	}
}

func testWrappedKeyTampered(t *testing.T, fx *fixture) {
	ctx := t.Context()
	a, b := fx.resident(t), fx.resident(t)
	put(t, fx.v, a, "address", address)
	put(t, fx.v, b, "address", `"Room 5, 1 Queen's Road"`)
	ka := fx.rawDataKey(t, a)

	// B's row gets A's wrapped key and A's ciphertext: the wrap is bound
	// to A, so even the pair does not open as B's.
	fx.exec(t, `UPDATE vault_data_keys SET wrapped_key = $1, kek_id = $2, key_version = $3 WHERE resident_id = $4`, ka.wrapped, ka.kekID, ka.keyVersion, b)
	fx.exec(t, `UPDATE vault_attributes SET ciphertext = $1 WHERE resident_id = $2`, fx.raw(t, a)["address"].ciphertext, b)
	_, err := fx.open(vault.Options{}).Get(ctx, b)
	wantDecryptError(t, "Get with A's data key copied to B", err, "")

	// One flipped bit in A's wrapped key.
	flipped := bytes.Clone(ka.wrapped)
	flipped[len(flipped)-1] ^= 1
	fx.exec(t, `UPDATE vault_data_keys SET wrapped_key = $1 WHERE resident_id = $2`, flipped, a)
	_, err = fx.open(vault.Options{}).Get(ctx, a)
	wantDecryptError(t, "Get with an altered wrapped key", err, "")
	fx.exec(t, `UPDATE vault_data_keys SET wrapped_key = $1 WHERE resident_id = $2`, ka.wrapped, a)
	wantValues(t, fx.open(vault.Options{}), a, map[string]string{"address": address})
}

func testKEKRotation(t *testing.T, fx *fixture) {
	ctx := t.Context()
	want := map[string]map[string]string{}
	for i := range 3 {
		r := fx.resident(t)
		want[r] = map[string]string{"address": strconv.Quote(fmt.Sprintf("Flat %d, Tower 3", i)), "phone": phone}
		for n, val := range want[r] {
			put(t, fx.v, r, n, val)
		}
	}
	before := map[string]map[string]rawAttr{}
	for r := range want {
		before[r] = fx.raw(t, r)
	}

	newKEK, err := fx.ring.RotateNow(ctx, keyring.VaultKEK, hsm.AES256)
	if err != nil {
		t.Fatal(err)
	}
	// Before the rewrap, the retiring KEK still unwraps (cold cache).
	for r, w := range want {
		wantValues(t, fx.open(vault.Options{}), r, w)
	}
	// New data keys are wrapped by the new KEK at once.
	fresh := fx.resident(t)
	put(t, fx.v, fresh, "email", email)
	if k := fx.rawDataKey(t, fresh); k.kekID != newKEK.ID {
		t.Errorf("a data key made after the rotation is wrapped by %s, want the new KEK %s", k.kekID, newKEK.ID)
	}

	done, remaining, err := fx.v.RewrapKeys(ctx, 100)
	if err != nil || done != 3 || remaining != 0 {
		t.Fatalf("RewrapKeys = %d, %d, %v; want 3 done, 0 left", done, remaining, err)
	}
	for r := range want {
		k := fx.rawDataKey(t, r)
		if k.kekID != newKEK.ID || k.keyVersion != 1 {
			t.Errorf("after rewrap: data key of %s wrapped by %s at version %d; want %s, version 1", r, k.kekID, k.keyVersion, newKEK.ID)
		}
		after := fx.raw(t, r)
		for n, b := range before[r] {
			if !bytes.Equal(after[n].ciphertext, b.ciphertext) || after[n].keyVersion != b.keyVersion || after[n].version != b.version {
				t.Errorf("the rewrap touched attribute %s of %s", n, r)
			}
		}
	}
	if done, remaining, err := fx.v.RewrapKeys(ctx, 100); err != nil || done != 0 || remaining != 0 {
		t.Errorf("second RewrapKeys = %d, %d, %v; want nothing to do", done, remaining, err)
	}
	// The old KEK is no longer needed: destroy it and read with cold caches.
	if err := fx.km.Destroy(ctx, fx.kek.URI); err != nil {
		t.Fatal(err)
	}
	for r, w := range want {
		wantValues(t, fx.open(vault.Options{}), r, w)
	}
	wantValues(t, fx.v, fresh, map[string]string{"email": email})
}

func testRewrapResumes(t *testing.T, fx *fixture) {
	ctx := t.Context()
	var residents []string
	for i := range 5 {
		r := fx.resident(t)
		residents = append(residents, r)
		put(t, fx.v, r, "address", strconv.Quote(fmt.Sprintf("Flat %d, Tower 3", i)))
	}
	k2, err := fx.ring.RotateNow(ctx, keyring.VaultKEK, hsm.AES256)
	if err != nil {
		t.Fatal(err)
	}
	// An interrupted run: two rows done, then the process stops.
	for want := 4; want >= 3; want-- {
		done, remaining, err := fx.v.RewrapKeys(ctx, 1)
		if err != nil || done != 1 || remaining != want {
			t.Fatalf("RewrapKeys(1) = %d, %d, %v; want 1 done, %d left", done, remaining, err, want)
		}
	}
	// Meanwhile the KEK is rotated again: rows under both older keys remain.
	k3, err := fx.ring.RotateNow(ctx, keyring.VaultKEK, hsm.AES256)
	if err != nil {
		t.Fatal(err)
	}
	byKEK := func() map[string]int {
		m := map[string]int{}
		for _, r := range residents {
			m[fx.rawDataKey(t, r).kekID]++
		}
		return m
	}
	if m := byKEK(); m[fx.kek.ID] != 3 || m[k2.ID] != 2 {
		t.Fatalf("before resuming: %v; want 3 under the first KEK and 2 under the second", m)
	}
	// A new process resumes, one at a time.
	v := fx.open(vault.Options{})
	for want := 4; want >= 0; want-- {
		done, remaining, err := v.RewrapKeys(ctx, 1)
		if err != nil || done != 1 || remaining != want {
			t.Fatalf("resumed RewrapKeys(1) = %d, %d, %v; want 1 done, %d left", done, remaining, err, want)
		}
	}
	if m := byKEK(); m[k3.ID] != 5 {
		t.Fatalf("after resuming: %v; want all 5 under the newest KEK", m)
	}
	for i, r := range residents {
		wantValues(t, fx.open(vault.Options{}), r, map[string]string{"address": strconv.Quote(fmt.Sprintf("Flat %d, Tower 3", i))})
	}

	// Two processes rewrapping at once count each row once.
	if _, err := fx.ring.RotateNow(ctx, keyring.VaultKEK, hsm.AES256); err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	for range 2 {
		wg.Go(func() {
			v := fx.open(vault.Options{})
			for {
				done, remaining, err := v.RewrapKeys(ctx, 1)
				if err != nil {
					t.Errorf("concurrent RewrapKeys: %v", err)
					return
				}
				mu.Lock()
				total += done
				mu.Unlock()
				if remaining == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	if total != 5 {
		t.Errorf("concurrent rewraps reported %d rows, want 5", total)
	}
	for i, r := range residents {
		wantValues(t, fx.open(vault.Options{}), r, map[string]string{"address": strconv.Quote(fmt.Sprintf("Flat %d, Tower 3", i))})
	}
}

func testDataKeyRotation(t *testing.T, fx *fixture) {
	ctx := t.Context()
	r := fx.resident(t)
	want := map[string]string{"address": address, "phone": phone, "email": email}
	for n, val := range want {
		put(t, fx.v, r, n, val)
	}
	put(t, fx.v, r, "phone", phone) // version 2
	other := fx.open(vault.Options{})
	wantValues(t, other, r, want) // another process caches the old key
	before, keyBefore := fx.raw(t, r), fx.rawDataKey(t, r)
	cached := vault.CachedKey(fx.v, r)
	oldKey := bytes.Clone(cached)
	if len(cached) != 32 || bytes.Equal(cached, make([]byte, 32)) {
		t.Fatalf("cached data key is %x, want 32 non-zero bytes", cached)
	}

	if err := fx.v.RotateDataKey(ctx, r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cached, make([]byte, 32)) {
		t.Error("the old data key was not zeroed in the cache")
	}
	if now := vault.CachedKey(fx.v, r); len(now) != 32 || bytes.Equal(now, oldKey) {
		t.Error("the cache does not hold a new data key")
	}
	keyAfter := fx.rawDataKey(t, r)
	if keyAfter.keyVersion != 2 || bytes.Equal(keyAfter.wrapped, keyBefore.wrapped) {
		t.Errorf("data key after rotation: version %d; want version 2 and another wrapped key", keyAfter.keyVersion)
	}
	after := fx.raw(t, r)
	for n, b := range before {
		a := after[n]
		if a.keyVersion != 2 || bytes.Equal(a.ciphertext, b.ciphertext) || a.version != b.version || a.schema != b.schema {
			t.Errorf("%s after rotation: key version %d, version %d (was %d), re-encrypted %v",
				n, a.keyVersion, a.version, b.version, !bytes.Equal(a.ciphertext, b.ciphertext))
		}
	}
	wantValues(t, fx.v, r, want)
	wantValues(t, fx.open(vault.Options{}), r, want)

	// The other process writes with the key it cached: the write notices
	// the rotation and seals under the new key.
	if _, err := other.Put(ctx, r, "email", json.RawMessage(`"new@example.hk"`), vault.Provenance{Source: "resident"}, -1); err != nil {
		t.Fatal(err)
	}
	want["email"] = `"new@example.hk"`
	wantValues(t, fx.open(vault.Options{}), r, want)
	wantValues(t, other, r, want)

	// The old key version is gone: an old ciphertext put back does not open.
	fx.exec(t, `UPDATE vault_attributes SET ciphertext = $1, key_version = 1 WHERE resident_id = $2 AND name = 'address'`, before["address"].ciphertext, r)
	_, err := fx.open(vault.Options{}).Get(ctx, r)
	wantDecryptError(t, "Get of a ciphertext under the rotated-out key", err, "address")

	err = fx.v.RotateDataKey(ctx, fx.resident(t))
	wantErr(t, "rotate without a vault", err, vault.ErrNotFound)
}

func testErase(t *testing.T, fx *fixture) {
	ctx := t.Context()
	r, other := fx.resident(t), fx.resident(t)
	put(t, fx.v, r, "address", address)
	put(t, fx.v, r, "phone", phone)
	put(t, fx.v, other, "address", address)
	oldAddress := fx.raw(t, r)["address"]
	cached := vault.CachedKey(fx.v, r)
	if len(cached) != 32 {
		t.Fatal("no cached data key before the erase")
	}

	if err := fx.v.Erase(ctx, r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cached, make([]byte, 32)) {
		t.Error("the erased data key was not zeroed in the cache")
	}
	if n := fx.count(t, `SELECT COUNT(*) FROM vault_attributes WHERE resident_id = $1`, r) +
		fx.count(t, `SELECT COUNT(*) FROM vault_data_keys WHERE resident_id = $1`, r); n != 0 {
		t.Errorf("%d rows of the erased vault remain", n)
	}
	for _, v := range []*vault.Vault{fx.v, fx.open(vault.Options{})} {
		_, err := v.Get(ctx, r)
		wantErr(t, "Get after erase", err, vault.ErrErased)
		if !strings.Contains(err.Error(), "erased") {
			t.Errorf("error %q does not say erased", err)
		}
		_, err = v.Get(ctx, r, "address")
		wantErr(t, "Get(address) after erase", err, vault.ErrErased)
	}
	wantErr(t, "Delete after erase", fx.v.Delete(ctx, r, "address", -1), vault.ErrErased)
	wantErr(t, "RotateDataKey after erase", fx.v.RotateDataKey(ctx, r), vault.ErrErased)
	if err := fx.v.Erase(ctx, r); err != nil {
		t.Errorf("a second erase: %v", err)
	}
	wantValues(t, fx.v, other, map[string]string{"address": address})

	// A resident who never had a vault can be erased too.
	never := fx.resident(t)
	if err := fx.v.Erase(ctx, never); err != nil {
		t.Fatal(err)
	}
	_, err := fx.v.Get(ctx, never)
	wantErr(t, "Get after erasing an empty vault", err, vault.ErrErased)

	// A write after the erasure starts a new vault with a new key.
	put(t, fx.v, r, "email", email)
	if n := fx.count(t, `SELECT COUNT(*) FROM vault_erasures WHERE resident_id = $1`, r); n != 0 {
		t.Error("the erasure record stays after a new write")
	}
	wantValues(t, fx.v, r, map[string]string{"email": email})
	// The shredded ciphertext does not open under the new key, though both
	// are key version 1.
	fx.exec(t, `INSERT INTO vault_attributes (resident_id, name, schema_version, key_version, ciphertext, source, verified, version, updated_at)
		VALUES ($1, 'address', $2, $3, $4, 'register', $5, 1, 0)`, r, oldAddress.schema, oldAddress.keyVersion, oldAddress.ciphertext, true)
	_, err = fx.open(vault.Options{}).Get(ctx, r)
	wantDecryptError(t, "Get of a shredded ciphertext", err, "address")
}

func testNoPlaintextAtRest(t *testing.T, fx *fixture) {
	ctx := t.Context()
	r := fx.resident(t)
	secrets := map[string]string{"address": address, "phone": phone, "email": email, "name_zh": nameZH, "postal": postal}
	for n, val := range secrets {
		put(t, fx.v, r, n, val)
	}
	if err := fx.v.RotateDataKey(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.ring.RotateNow(ctx, keyring.VaultKEK, hsm.AES256); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fx.v.RewrapKeys(ctx, 10); err != nil {
		t.Fatal(err)
	}
	put(t, fx.v, r, "phone", phone)
	dek := bytes.Clone(vault.CachedKey(fx.v, r))

	var needles [][]byte
	for _, val := range secrets {
		var s any
		json.Unmarshal([]byte(val), &s)
		needles = append(needles, []byte(val))
		if str, ok := s.(string); ok {
			needles = append(needles, []byte(str))
		}
	}
	needles = append(needles, []byte("Flat 12B"), []byte("Tower 3"), []byte("Gloucester"), []byte("5555 0123"), []byte("陳美玲"),
		dek, []byte(fmt.Sprintf("%x", dek)))

	// Every column of every table, as the database returns it.
	var tables []string
	q := `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	if fx.db.Engine == db.EngineSQLite {
		q = `SELECT name FROM sqlite_master WHERE type = 'table'`
	}
	rows, err := fx.db.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	var scanned, vaultRows int
	for _, table := range tables {
		rows, err := fx.db.QueryContext(ctx, `SELECT * FROM `+table)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(table, "vault_") {
				vaultRows++
			}
			for i, val := range vals {
				var raw []byte
				switch x := val.(type) {
				case []byte:
					raw = x
				case string:
					raw = []byte(x)
				default:
					raw = fmt.Append(nil, x)
				}
				scanned++
				for _, n := range needles {
					if bytes.Contains(raw, n) {
						t.Errorf("%s.%s holds plaintext (%d bytes matching a value or the data key)", table, cols[i], len(n))
					}
				}
			}
		}
		rows.Close()
	}
	if len(tables) < 10 || vaultRows < 6 {
		t.Fatalf("scanned %d tables, %d vault rows: the scan did not see the data", len(tables), vaultRows)
	}
	// SQLite: the database file and its write-ahead log, byte by byte.
	if fx.db.Engine == db.EngineSQLite {
		var file string
		if err := fx.db.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{file, file + "-wal"} {
			content, err := os.ReadFile(f)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			for _, n := range needles {
				if bytes.Contains(content, n) {
					t.Errorf("the file %s holds plaintext (%d bytes matching a value or the data key)", f, len(n))
				}
			}
		}
		// The scan can see names: it would see values too.
		content, _ := os.ReadFile(file + "-wal")
		main, _ := os.ReadFile(file)
		if !bytes.Contains(append(main, content...), []byte("department")) && !bytes.Contains(append(main, content...), []byte("register")) {
			t.Error("the file scan does not even find the provenance source: it reads the wrong file")
		}
	}
}

func testConcurrentSameVersion(t *testing.T, fx *fixture) {
	ctx := t.Context()
	r := fx.resident(t)
	put(t, fx.v, r, "address", address)
	const writers = 8
	results := make(chan error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			v := fx.v
			if i%2 == 1 {
				v = fx.open(vault.Options{}) // another process
			}
			_, err := v.Put(ctx, r, "address", json.RawMessage(strconv.Quote(fmt.Sprintf("writer %d", i))), vault.Provenance{Source: "resident"}, 1)
			results <- err
		})
	}
	wg.Wait()
	close(results)
	var won, conflicts int
	for err := range results {
		switch {
		case err == nil:
			won++
		case errors.Is(err, vault.ErrConflict):
			conflicts++
		default:
			t.Errorf("Put: %v", err)
		}
	}
	if won != 1 || conflicts != writers-1 {
		t.Fatalf("%d writes won, %d conflicted; want exactly 1 and %d", won, conflicts, writers-1)
	}
	attrs, err := fx.v.Get(ctx, r)
	if err != nil || len(attrs) != 1 || attrs[0].Version != 2 || !strings.HasPrefix(string(attrs[0].Value), `"writer `) {
		t.Fatalf("after the race: %+v, %v", attrs, err)
	}
}

func testNoLostUpdates(t *testing.T, fx *fixture) {
	ctx := t.Context()
	r := fx.resident(t)
	if _, err := fx.v.Put(ctx, r, "counter", json.RawMessage(`0`), vault.Provenance{Source: "resident"}, 0); err != nil {
		t.Fatal(err)
	}
	const workers, increments = 4, 5
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			v := fx.v
			if i%2 == 1 {
				v = fx.open(vault.Options{})
			}
			for range increments {
				for {
					attrs, err := v.Get(ctx, r, "counter")
					if err != nil || len(attrs) != 1 {
						t.Errorf("Get: %v, %v", attrs, err)
						return
					}
					n, _ := strconv.Atoi(string(attrs[0].Value))
					_, err = v.Put(ctx, r, "counter", json.RawMessage(strconv.Itoa(n+1)), vault.Provenance{Source: "resident"}, attrs[0].Version)
					if err == nil {
						break
					}
					if !errors.Is(err, vault.ErrConflict) {
						t.Errorf("Put: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	attrs, err := fx.v.Get(ctx, r, "counter")
	if err != nil || len(attrs) != 1 {
		t.Fatal(attrs, err)
	}
	if got := string(attrs[0].Value); got != strconv.Itoa(workers*increments) || attrs[0].Version != workers*increments+1 {
		t.Fatalf("counter = %s at version %d; want %d at version %d", got, attrs[0].Version, workers*increments, workers*increments+1)
	}
}

func testConcurrentFirstWrites(t *testing.T, fx *fixture) {
	ctx := t.Context()
	r := fx.resident(t)
	const writers = 6
	var wg sync.WaitGroup
	want := map[string]string{}
	for i := range writers {
		name, value := fmt.Sprintf("attr_%d", i), strconv.Quote(fmt.Sprintf("value %d", i))
		want[name] = value
		wg.Go(func() {
			v := fx.open(vault.Options{}) // each its own process: no shared cache
			if _, err := v.Put(ctx, r, name, json.RawMessage(value), vault.Provenance{Source: "register"}, 0); err != nil {
				t.Errorf("Put(%s): %v", name, err)
			}
		})
	}
	wg.Wait()
	if n := fx.count(t, `SELECT COUNT(*) FROM vault_data_keys WHERE resident_id = $1`, r); n != 1 {
		t.Fatalf("%d data keys, want 1", n)
	}
	// Every write used the key that won.
	wantValues(t, fx.open(vault.Options{}), r, want)
}

func testCache(t *testing.T, fx *fixture) {
	ctx := t.Context()
	var (
		mu  sync.Mutex
		ops = map[string]int{}
	)
	counted := hsm.Observe(fx.km, func(op string, _ hsm.Algorithm, _ time.Duration, _ error) {
		mu.Lock()
		ops[op]++
		mu.Unlock()
	})
	decrypts := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := ops["decrypt"]
		ops["decrypt"] = 0
		return n
	}
	a, b, c := fx.resident(t), fx.resident(t), fx.resident(t)
	for _, r := range []string{a, b, c} {
		put(t, fx.v, r, "address", address)
	}

	v := vault.New(fx.db, fx.ring, counted, vault.Options{Now: fx.clock.Now, CacheTTL: time.Minute, CacheSize: 2})
	var evicted [][]byte
	vault.OnEvict(v, func(k []byte) { evicted = append(evicted, k) })
	isZero := func(k []byte) bool { return len(k) == 32 && bytes.Equal(k, make([]byte, 32)) }

	values(t, v, a)
	values(t, v, a)
	values(t, v, a, "address")
	if n := decrypts(); n != 1 {
		t.Errorf("three reads of one resident unwrapped %d times, want once", n)
	}
	keyA := vault.CachedKey(v, a)
	if len(keyA) != 32 || isZero(keyA) {
		t.Fatal("no data key cached after a read")
	}

	// Past its time the key is zeroed and unwrapped again.
	fx.clock.Advance(time.Minute)
	values(t, v, b) // any use of the cache sweeps it
	if !isZero(keyA) || len(evicted) != 1 || &evicted[0][0] != &keyA[0] {
		t.Errorf("expired key: zeroed %v, evicted %d slices (want the cached one)", isZero(keyA), len(evicted))
	}
	values(t, v, a)
	if n := decrypts(); n != 2 {
		t.Errorf("after expiry: %d unwraps, want 2 (b, and a again)", n)
	}

	// Size 2: a third resident pushes out the least recently used (b).
	keyB := vault.CachedKey(v, b)
	values(t, v, a)
	values(t, v, c)
	if !isZero(keyB) || vault.CachedKey(v, b) != nil || vault.CachedKey(v, a) == nil {
		t.Errorf("LRU eviction: b zeroed %v, b cached %v, a cached %v", isZero(keyB), vault.CachedKey(v, b) != nil, vault.CachedKey(v, a) != nil)
	}

	// Rotation and erasure zero the key they replace.
	keyC := vault.CachedKey(v, c)
	if err := v.RotateDataKey(ctx, c); err != nil {
		t.Fatal(err)
	}
	if !isZero(keyC) {
		t.Error("rotation did not zero the old key")
	}
	keyA = vault.CachedKey(v, a)
	if err := v.Erase(ctx, a); err != nil {
		t.Fatal(err)
	}
	if !isZero(keyA) || vault.CachedKey(v, a) != nil {
		t.Error("erase did not zero and drop the key")
	}
	for _, k := range evicted {
		if !isZero(k) {
			t.Error("an evicted key was not zeroed")
		}
	}

	// Without a cache every read unwraps.
	decrypts()
	nc := vault.New(fx.db, fx.ring, counted, vault.Options{Now: fx.clock.Now, CacheSize: -1})
	values(t, nc, b)
	values(t, nc, b)
	if n := decrypts(); n != 2 || vault.CachedKey(nc, b) != nil {
		t.Errorf("without a cache: %d unwraps for 2 reads", n)
	}
}

// The associated data of attributes is injective: fields that run into
// each other differently give different bytes.
func TestAssociatedDataIsUnambiguous(t *testing.T) {
	cases := [][2][]byte{
		{vault.AttrAAD("ab", "c", 1, 1), vault.AttrAAD("a", "bc", 1, 1)},
		{vault.AttrAAD("r", "name", 1, 2), vault.AttrAAD("r", "name", 2, 1)},
		{vault.AttrAAD("r", "n", 1, 1), vault.AttrAAD("r", "n", 1, 1<<32)},
		{vault.WrapAAD("a|1", 2), vault.WrapAAD("a", 12)},
	}
	for i, c := range cases {
		if bytes.Equal(c[0], c[1]) {
			t.Errorf("case %d: two different inputs give the same associated data %q", i, c[0])
		}
	}
	if got := string(vault.WrapAAD("res-1", 3)); got != "eidp-vault-dek|res-1|3" {
		t.Errorf("WrapAAD = %q", got)
	}
	want := "\x00\x00\x00\x0feidp-vault-attr\x00\x00\x00\x01r\x00\x00\x00\x01n" +
		"\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x03"
	if got := string(vault.AttrAAD("r", "n", 2, 3)); got != want {
		t.Errorf("AttrAAD = %q, want %q (doc.go)", got, want)
	}
}
