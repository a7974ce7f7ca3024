package seed

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"eidp/bench/seed/population"
	"eidp/idp/account"
	"eidp/idp/claims"
	"eidp/idp/client"
	"eidp/idp/consent"
	"eidp/idp/passkey"
	"eidp/idp/passkey/passkeytest"
	"eidp/idp/proofing"
	"eidp/internal/db"
	"eidp/signing/ca"
	"eidp/vault"
	"eidp/vault/attr"
)

// MaxResidents is the size of the population's ID-number space: Z000000 to
// Z999999.
const MaxResidents = 1_000_000

// Defaults of Options.
const (
	DefaultBatchSize = 500
	DefaultWorkers   = 4
)

// Errors at the package boundary; match them with errors.Is.
var (
	// ErrOptions: the options cannot describe a seeding run.
	ErrOptions = errors.New("seed: invalid options")
	// ErrOtherSeed: a resident of the population exists under an account
	// ID another key seed derives; its passkey would not be the
	// generator's. Seed a fresh database, or use the first seed again.
	ErrOtherSeed = errors.New("seed: the database holds this population seeded with another key seed")
)

// Options say what to seed.
type Options struct {
	// Residents is the size of the population: residents 0 … Residents-1.
	// Those that exist are left as they are (their consent and vault
	// attributes completed), so a second run with a larger number extends
	// the population.
	Residents int
	// KeySeed derives each resident's account ID and passkey
	// (population.Derive); at least population.MinKeySeedBytes bytes.
	KeySeed []byte
	// ClientID is the client every resident has consented to (the bench
	// client, see EnsureClient): LoginScopes, and VaultScopes with Vault.
	ClientID string
	// Vault gives every resident five vault attributes (VaultAttributes).
	Vault bool
	// Certificates raises every resident to assurance level high, issues
	// each a signing certificate through Deps.CA (unless they hold a valid
	// one) and adds SigningScopes' "service" to the consent: what the load
	// generator's sign-hash and pades scenarios need.
	Certificates bool
	// BatchSize is how many residents one transaction writes (default
	// DefaultBatchSize).
	BatchSize int
	// Workers is how many consents and vault attributes are written at
	// once (default DefaultWorkers). The vault writes one transaction per
	// attribute: PostgreSQL commits them in parallel, SQLite one by one.
	Workers int
	// Progress, if set, is called after each batch.
	Progress func(Progress)
}

// Progress is how far a run has come.
type Progress struct {
	Done, Total int
	Elapsed     time.Duration
	// Certificates is how many certificates have been issued so far.
	Certificates int
}

// Deps are the stores a run writes to.
type Deps struct {
	DB *db.DB
	// Vault is required with Options.Vault (opened like `eidp serve` does,
	// with the vault-kek key in the keyring).
	Vault *vault.Vault
	// CA is required with Options.Certificates: the certification
	// authority `eidp serve` uses (same database and key backend), with
	// its hierarchy initialised.
	CA *ca.Authority
}

// Result counts what a run wrote.
type Result struct {
	Created     int // residents created
	Existing    int // residents that were there already
	Credentials int // passkeys stored
	Consents    int // consents saved (new or widened)
	Attributes  int // vault attributes written
	// Certificates is how many signing certificates were issued, and
	// IssueTime the wall time their issuance took (ca.Authority.Issue,
	// Options.Workers at once; the level and current-certificate checks
	// before it are not counted). Zero without Options.Certificates.
	Certificates int
	IssueTime    time.Duration
}

// LoginScopes are the scopes the login-flow scenario asks for; every
// seeded resident has consented to them.
func LoginScopes() []string { return []string{"openid", claims.ScopeProfile} }

// VaultScopes are the scopes that release the five vault attributes a run
// with Options.Vault stores.
func VaultScopes() []string {
	return []string{attr.ScopeAddress, attr.ScopePhone, attr.ScopeEmail, attr.ScopeOccupation, attr.ScopeEmergencyContact}
}

// SigningScopes are the remote-signing scopes (CSC API v2, signing/csc):
// "service" for the credential listing and credentials/authorize, which
// the seeded consent covers with Options.Certificates, and "credential"
// for the OAuth route, which the resident approves per request.
func SigningScopes() []string { return []string{"service", "credential"} }

// IDNumber is the Hong Kong identity card number of resident index, in the
// canonical form proofing stores: "Z", six digits, and the check digit
// (so "Z0000420" for index 42 — the letter Z keeps seeded residents apart
// from the demo register's people).
func IDNumber(index int) (string, error) {
	if index < 0 || index >= MaxResidents {
		return "", fmt.Errorf("%w: resident index %d outside 0 … %d", ErrOptions, index, MaxResidents-1)
	}
	body := fmt.Sprintf("Z%06d", index)
	// The check digit is whichever of the eleven possible ones proofing
	// accepts: its algorithm stays proofing's.
	for _, d := range "0123456789A" {
		if n, err := proofing.NormalizeIDNumber(body + string(d)); err == nil {
			return n, nil
		}
	}
	return "", fmt.Errorf("seed: no check digit makes %s a valid ID number", body)
}

// profile is resident index's register record: synthetic, no real person's.
func profile(index int, idNumber string) account.Profile {
	gender := "F"
	if index%2 == 1 {
		gender = "M"
	}
	birth := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, (index*37)%20000)
	return account.Profile{
		IDNumber: idNumber, Surname: "BENCH", GivenNames: "Resident " + strconv.Itoa(index),
		BirthDate: birth.Format(time.DateOnly), Gender: gender,
	}
}

// VaultAttributes returns the five attributes resident index keeps with
// Options.Vault, each as attr.Validate returns it (canonical): a
// residential address, a mobile phone, an email address, an occupation
// and an emergency contact.
func VaultAttributes(index int) (map[attr.Name]json.RawMessage, error) {
	districts := []string{"central-western", "wan-chai", "eastern", "southern", "yau-tsim-mong", "sham-shui-po",
		"kowloon-city", "wong-tai-sin", "kwun-tong", "kwai-tsing", "tsuen-wan", "tuen-mun", "yuen-long", "north",
		"tai-po", "sha-tin", "sai-kung", "islands"}
	raw := map[attr.Name]any{
		attr.ResidentialAddress: map[string]string{
			attr.FieldFlat: string(rune('A' + index%8)), attr.FieldFloor: strconv.Itoa(1 + index%40),
			attr.FieldBuilding: "Bench Court Block " + strconv.Itoa(1+index%50), attr.FieldStreetNumber: strconv.Itoa(1 + index%300),
			attr.FieldStreet: "Benchmark Road", attr.FieldDistrict: districts[index%len(districts)],
		},
		attr.MobilePhone: fmt.Sprintf("+852 91%06d", index%1_000_000),
		attr.Email:       fmt.Sprintf("resident%d@bench.example.org", index),
		attr.Occupation:  "Load test resident",
		attr.EmergencyContact: attr.Contact{Name: "Contact of resident " + strconv.Itoa(index), Relationship: "friend",
			Phone: fmt.Sprintf("2%07d", index%10_000_000)},
	}
	out := make(map[attr.Name]json.RawMessage, len(raw))
	for name, v := range raw {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		if out[name], err = attr.Validate(name, b); err != nil {
			return nil, fmt.Errorf("seed: resident %d's %s: %w", index, name, err)
		}
	}
	return out, nil
}

func (o *Options) check(d Deps) error {
	switch {
	case d.DB == nil:
		return fmt.Errorf("%w: no database", ErrOptions)
	case o.Residents < 1 || o.Residents > MaxResidents:
		return fmt.Errorf("%w: residents must be 1 to %d, not %d", ErrOptions, MaxResidents, o.Residents)
	case len(o.KeySeed) < population.MinKeySeedBytes:
		return fmt.Errorf("%w: %w", ErrOptions, population.ErrKeySeed)
	case o.ClientID == "":
		return fmt.Errorf("%w: no client to consent to", ErrOptions)
	case o.Vault && d.Vault == nil:
		return fmt.Errorf("%w: vault attributes asked for without a vault", ErrOptions)
	case o.Certificates && d.CA == nil:
		return fmt.Errorf("%w: certificates asked for without a CA", ErrOptions)
	case o.BatchSize < 0 || o.Workers < 0:
		return fmt.Errorf("%w: batch size and workers cannot be negative", ErrOptions)
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	return nil
}

// Run seeds the population: for each resident missing, in batches of one
// transaction each, the account (with its "registered" event) and its
// passkey; then, for every resident of the batch, a consent for the client
// (LoginScopes, plus VaultScopes with Vault) and with Vault the five
// attributes it lacks. Re-running with the same options changes nothing;
// with more residents it adds the new ones. The client must exist.
func Run(ctx context.Context, d Deps, opts Options) (Result, error) {
	var res Result
	if err := opts.check(d); err != nil {
		return res, err
	}
	scopes := LoginScopes()
	if opts.Vault {
		scopes = append(scopes, VaultScopes()...)
	}
	if opts.Certificates {
		scopes = append(scopes, SigningScopes()[0]) // "service"; "credential" is approved per request
	}
	var names []string // the claims the scopes ask for, all consented to
	for _, it := range claims.Requested(scopes, claims.Request{}, false) {
		names = append(names, it.Name)
	}
	if _, err := client.NewStore(d.DB, client.Options{}).Get(ctx, opts.ClientID); err != nil {
		return res, fmt.Errorf("seed: %w (create it first: EnsureClient)", err)
	}
	consents := consent.NewStore(d.DB)
	accounts := account.NewStore(d.DB)
	start := time.Now()
	for first := 0; first < opts.Residents; first += opts.BatchSize {
		n := min(opts.BatchSize, opts.Residents-first)
		batch := make([]population.Resident, n)
		for i := range batch {
			batch[i] = population.Derive(opts.KeySeed, first+i)
		}
		created, creds, err := writeAccounts(ctx, d.DB, accounts, batch, opts.level())
		if err != nil {
			return res, err
		}
		res.Created += created
		res.Existing += n - created
		res.Credentials += creds
		saved, written, err := completeResidents(ctx, d, consents, opts, batch, scopes, names)
		res.Consents += saved
		res.Attributes += written
		if err != nil {
			return res, err
		}
		if opts.Certificates {
			issued, took, err := issueCertificates(ctx, d.CA, accounts, opts.Workers, batch)
			res.Certificates += issued
			res.IssueTime += took
			if err != nil {
				return res, err
			}
		}
		if opts.Progress != nil {
			opts.Progress(Progress{Done: first + n, Total: opts.Residents, Elapsed: time.Since(start), Certificates: res.Certificates})
		}
	}
	return res, nil
}

// level is the assurance level new residents are created at: high when
// they get signing certificates (ca.LevelHigh), else substantial.
func (o *Options) level() string {
	if o.Certificates {
		return ca.LevelHigh
	}
	return string(proofing.Substantial)
}

// writeAccounts creates the batch's missing residents (at level) and
// passkeys in one transaction and returns how many of each it wrote.
func writeAccounts(ctx context.Context, d *db.DB, accounts *account.Store, batch []population.Resident, level string) (created, creds int, err error) {
	idNumbers := make([]string, len(batch))
	for i, r := range batch {
		if idNumbers[i], err = IDNumber(r.Index); err != nil {
			return 0, 0, err
		}
	}
	err = d.InTx(ctx, func(tx *sql.Tx) error {
		created, creds = 0, 0
		existing, err := column(ctx, tx, `SELECT id_number, id FROM residents WHERE id_number IN `, idNumbers)
		if err != nil {
			return fmt.Errorf("read residents: %w", err)
		}
		ids := make([]string, len(batch))
		for i, r := range batch {
			ids[i] = r.ID
		}
		haveCred, err := column(ctx, tx, `SELECT id, resident_id FROM passkey_credentials WHERE resident_id IN `, ids)
		if err != nil {
			return fmt.Errorf("read passkeys: %w", err)
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		for i, r := range batch {
			switch id, ok := existing[idNumbers[i]]; {
			case ok && id != r.ID:
				return fmt.Errorf("%w (resident %d, %s)", ErrOtherSeed, r.Index, proofing.FormatIDNumber(idNumbers[i]))
			case !ok:
				if err := insertResident(ctx, tx, accounts, r.ID, profile(r.Index, idNumbers[i]), level); err != nil {
					return err
				}
				created++
			}
			cred := passkey.Credential{ID: r.CredentialID, ResidentID: r.ID}
			if _, ok := haveCred[cred.IDString()]; ok {
				continue
			}
			if cred.PublicKey, err = passkeytest.COSEPublicKey(&r.Key.PublicKey); err != nil {
				return err
			}
			// What a registration stores for a device-bound passkey with
			// "none" attestation, user verification and a counter that
			// stays 0 (the generator's authenticators do not share one).
			cred.AAGUID = passkeytest.DefaultAAGUID
			cred.AttestationFormat = "none"
			cred.Transports = []string{"internal"}
			cred.Nickname = "Seeded passkey"
			cred.CreatedAt = now
			if err := passkey.InsertCredential(ctx, tx, cred); err != nil {
				return err
			}
			creds++
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrOtherSeed):
		return 0, 0, err
	case err != nil:
		return 0, 0, fmt.Errorf("seed: residents %d … %d: %w", batch[0].Index, batch[len(batch)-1].Index, err)
	}
	return created, creds, nil
}

// insertResident creates the account under the derived ID (the load
// generator must know it: it is the passkey's user handle) in the batch's
// transaction.
func insertResident(ctx context.Context, tx *sql.Tx, accounts *account.Store, id string, p account.Profile, level string) error {
	if _, err := accounts.CreateTx(ctx, tx, id, p, level, map[string]string{"via": "seed"}); err != nil {
		return fmt.Errorf("insert resident: %w", err)
	}
	return nil
}

// column runs query + "($1, …)" over values and returns the first column
// mapped to the second.
func column(ctx context.Context, tx *sql.Tx, query string, values []string) (map[string]string, error) {
	ph := make([]string, len(values))
	args := make([]any, len(values))
	for i, v := range values {
		ph[i] = "$" + strconv.Itoa(i+1)
		args[i] = v
	}
	rows, err := tx.QueryContext(ctx, query+"("+strings.Join(ph, ", ")+")", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// completeResidents saves the consent of every resident of the batch that
// does not have it yet and, with opts.Vault, writes the attributes each
// lacks, opts.Workers at a time. The vault's data are written before the
// consent: a value newer than the consent and not named in it would bring
// the consent page back (provider: newVaultData).
func completeResidents(ctx context.Context, d Deps, consents *consent.Store, opts Options, batch []population.Resident,
	scopes, names []string) (saved, written int, err error) {
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		work  = make(chan population.Resident)
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range opts.Workers {
		wg.Go(func() {
			for r := range work {
				c, w, err := completeResident(ctx, d, consents, opts, r, scopes, names)
				mu.Lock()
				saved += c
				written += w
				if err != nil && first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, r := range batch {
		select {
		case work <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return saved, written, first
}

func completeResident(ctx context.Context, d Deps, consents *consent.Store, opts Options, r population.Resident,
	scopes, names []string) (saved, written int, err error) {
	if opts.Vault {
		if written, err = writeVault(ctx, d.Vault, r); err != nil {
			return 0, written, err
		}
	}
	cur, err := consents.Get(ctx, r.ID, opts.ClientID)
	switch {
	case err == nil && cur.Covers(scopes, nil) && containsAll(cur.Claims, names):
		return 0, written, nil
	case err == nil:
		// Widen it (a first run without the vault), keeping what it had.
		scopes = append(slices.Clone(scopes), cur.Scopes...)
		names = append(slices.Clone(names), cur.Claims...)
	case !errors.Is(err, consent.ErrNotFound):
		return 0, written, fmt.Errorf("seed: consent of resident %d: %w", r.Index, err)
	}
	if _, err := consents.Save(ctx, consent.Consent{ResidentID: r.ID, ClientID: opts.ClientID, Scopes: scopes, Claims: names}); err != nil {
		return 0, written, fmt.Errorf("seed: consent of resident %d: %w", r.Index, err)
	}
	return 1, written, nil
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// writeVault stores the resident's attributes that are not there yet.
func writeVault(ctx context.Context, v *vault.Vault, r population.Resident) (int, error) {
	values, err := VaultAttributes(r.Index)
	if err != nil {
		return 0, err
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, string(n))
	}
	slices.Sort(names)
	have, err := v.Get(ctx, r.ID, names...)
	if err != nil && !errors.Is(err, vault.ErrErased) {
		return 0, fmt.Errorf("seed: vault of resident %d: %w", r.Index, err)
	}
	written := 0
	for _, n := range names {
		if slices.ContainsFunc(have, func(a vault.Attribute) bool { return a.Name == n }) {
			continue
		}
		_, err := v.Put(ctx, r.ID, n, values[attr.Name(n)], vault.Provenance{Source: "resident"}, 0)
		if errors.Is(err, vault.ErrConflict) {
			continue // written meanwhile by another run
		}
		if err != nil {
			return written, fmt.Errorf("seed: vault of resident %d: %w", r.Index, err)
		}
		written++
	}
	return written, nil
}
