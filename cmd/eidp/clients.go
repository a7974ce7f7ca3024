package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"eidp/idp/client"
	"eidp/idp/subject"
	"eidp/internal/config"
)

const clientsUsage = `Usage:
  eidp clients create [--metadata FILE] [--id ID] [field flags]
  eidp clients list
  eidp clients show ID
  eidp clients update ID [--metadata FILE] [field flags]
  eidp clients delete ID
  eidp clients rotate-secret ID

--metadata takes a JSON file ("-": standard input) with RFC 7591 / OpenID
Connect Registration metadata names (client_name, redirect_uris, grant_types,
token_endpoint_auth_method, jwks_uri, subject_type, scope, …); the output of
"clients show" is such a file. Field flags set the common fields on top of it:
--name, --redirect-uri (repeatable), --auth-method, --grant (repeatable),
--scope, --public-subject, --allow-id-card, --admin (an admin API client:
admin and the eidp:admin scope), and what residents see on the consent page:
--name-zh (client_name#zh-Hant), --purpose (eidp_purpose), --purpose-zh
(eidp_purpose#zh-Hant), --logo-uri, --client-uri, --policy-uri, --tos-uri (an
empty value removes the field). Update replaces the metadata with the file
when one is given, otherwise changes only the flagged fields.
Run "eidp clients create --help" for every setting.`

// eidp clients create|list|show|update|delete|rotate-secret: an operator
// registers and manages relying parties (idp/client).
func runClients(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, clientsUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: clients needs a subcommand: create, list, show, update, delete or rotate-secret", errUsage)
		}
		return nil
	}
	sub, args := args[0], args[1:]
	var takesID, takesFields bool
	switch sub {
	case "list":
	case "create":
		takesFields = true
	case "update":
		takesID, takesFields = true, true
	case "show", "delete", "rotate-secret":
		takesID = true
	default:
		return fmt.Errorf("%w: unknown clients subcommand %q: use create, list, show, update, delete or rotate-secret", errUsage, sub)
	}
	// The client ID may come first (eidp clients show ID --flags) or last.
	var id string
	if takesID && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	var f clientFlags
	var extra func(*flag.FlagSet)
	if takesFields {
		extra = func(fs *flag.FlagSet) { f.register(fs, sub == "create") }
	}
	cfg, fs, err := loadConfig("clients "+sub, args, stdout, extra)
	if err != nil {
		return err
	}
	rest := fs.Args()
	if takesID && id == "" && len(rest) > 0 {
		id, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: clients %s: unexpected arguments %q (run `eidp clients %s --help`)", errUsage, sub, rest, sub)
	}
	if takesID && id == "" {
		return fmt.Errorf("%w: clients %s needs the client ID: eidp clients %s ID", errUsage, sub, sub)
	}
	fs.Visit(func(fl *flag.Flag) { f.set = append(f.set, fl.Name) })
	if sub == "update" && f.metadata == "" && !f.changesFields() {
		return fmt.Errorf("%w: clients update needs --metadata FILE or a field flag to change", errUsage)
	}
	var fromFile *client.Client
	if f.metadata != "" {
		c, err := readMetadata(f.metadata)
		if err != nil {
			return err
		}
		if sub == "update" && c.ClientID != "" && c.ClientID != id {
			return fmt.Errorf("%w: %s has client_id %q, but the client to update is %q", errUsage, f.metadata, c.ClientID, id)
		}
		fromFile = &c
	}

	log := newLogger(cfg, os.Stderr)
	d, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := migrateDatabase(ctx, d, log); err != nil {
		return err
	}
	store := client.NewStore(d, client.Options{Production: cfg.Production()})

	switch sub {
	case "create":
		var c client.Client
		if fromFile != nil {
			c = *fromFile
		}
		f.apply(&c)
		if err := checkSector(ctx, cfg, c); err != nil {
			return err
		}
		created, secret, err := store.Create(ctx, c)
		if err != nil {
			return err
		}
		return printClient(stdout, stderr, created, secret)
	case "update":
		var c client.Client
		if fromFile != nil {
			c = *fromFile
		} else if c, err = store.Get(ctx, id); err != nil {
			return err
		}
		c.ClientID = id
		f.apply(&c)
		if err := checkSector(ctx, cfg, c); err != nil {
			return err
		}
		updated, secret, err := store.Update(ctx, c)
		if err != nil {
			return err
		}
		return printClient(stdout, stderr, updated, secret)
	case "show":
		c, err := store.Get(ctx, id)
		if err != nil {
			return err
		}
		return printClient(stdout, stderr, c, "")
	case "delete":
		if err := store.Delete(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted client %s\n", id)
		return nil
	case "rotate-secret":
		secret, err := store.RotateSecret(ctx, id)
		if err != nil {
			return err
		}
		// The shape of RFC 7591 §3.2.1's response fields for a secret.
		out, err := json.MarshalIndent(struct {
			ClientID              string `json:"client_id"`
			ClientSecret          string `json:"client_secret"`
			ClientSecretExpiresAt int64  `json:"client_secret_expires_at"`
		}{id, secret, 0}, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", out)
		warnSecretShownOnce(stderr, id, true)
		return nil
	}
	return listClients(ctx, store, stdout)
}

func listClients(ctx context.Context, store *client.Store, stdout io.Writer) error {
	clients, err := store.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tNAME\tAUTH METHOD\tGRANTS\tSUBJECT\tFLAGS\tCREATED")
	for _, c := range clients {
		var flags []string
		if c.Admin {
			flags = append(flags, "admin")
		}
		if c.AllowIDCard {
			flags = append(flags, "id-card")
		}
		if c.RequirePushedAuthorizationRequests {
			flags = append(flags, "par")
		}
		if len(flags) == 0 {
			flags = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ClientID, c.ClientName, c.TokenEndpointAuthMethod,
			strings.Join(c.GrantTypes, ","), c.SubjectType, strings.Join(flags, ","), c.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

// printClient writes the client's metadata as JSON (never its secret hash)
// and, when one was just issued, its secret as RFC 7591 §3.2.1's
// client_secret, with a warning that it is not shown again.
func printClient(stdout, stderr io.Writer, c client.Client, secret string) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if secret != "" {
		s, err := json.Marshal(secret)
		if err != nil {
			return err
		}
		// Appended as a last member of the object.
		b = append(append(append(b[:len(b)-1:len(b)-1], `,"client_secret":`...), s...), '}')
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	if _, err := out.WriteTo(stdout); err != nil {
		return err
	}
	if secret != "" {
		warnSecretShownOnce(stderr, c.ClientID, false)
	}
	return nil
}

func warnSecretShownOnce(stderr io.Writer, id string, rotated bool) {
	msg := "eidp: the client_secret above is shown only this once and will not be shown again: give it to the client's operator now (eidp keeps only its hash; `eidp clients rotate-secret " + id + "` issues a new one)"
	if rotated {
		msg += "; the previous secret no longer works"
	}
	fmt.Fprintln(stderr, msg)
}

// readMetadata reads a metadata document from path ("-": standard input).
func readMetadata(path string) (client.Client, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		file, err := os.Open(path)
		if err != nil {
			return client.Client{}, fmt.Errorf("%w: --metadata: %w", errUsage, err)
		}
		defer file.Close()
		r = file
	}
	data, err := io.ReadAll(io.LimitReader(r, client.MaxMetadataSize+1))
	if err != nil {
		return client.Client{}, fmt.Errorf("--metadata %s: %w", path, err)
	}
	c, err := client.ParseMetadata(data)
	if err != nil {
		return client.Client{}, fmt.Errorf("--metadata %s: %w", path, err)
	}
	return c, nil
}

// clientFlags are the flags for the common metadata fields. Only the flags
// given on the command line change anything (set).
type clientFlags struct {
	metadata      string
	id            string
	name          string
	redirectURIs  stringList
	authMethod    string
	grants        stringList
	scope         string
	publicSubject bool
	allowIDCard   bool
	admin         bool
	nameZH        string
	purpose       string
	purposeZH     string
	logoURI       string
	clientURI     string
	policyURI     string
	tosURI        string

	set []string // names of the flags given
}

func (f *clientFlags) register(fs *flag.FlagSet, create bool) {
	fs.StringVar(&f.metadata, "metadata", "", "a JSON file of client metadata with RFC 7591 names (\"-\": standard input)")
	if create {
		fs.StringVar(&f.id, "id", "", "the client_id to register (default: a random one)")
	}
	fs.StringVar(&f.name, "name", "", "client_name, shown to residents on the consent page")
	fs.Var(&f.redirectURIs, "redirect-uri", "a redirect URI, exactly as the client will send it (repeat for more; replaces the list)")
	fs.StringVar(&f.authMethod, "auth-method", "", "token_endpoint_auth_method: client_secret_basic (default), client_secret_post, private_key_jwt or none")
	fs.Var(&f.grants, "grant", "a grant type: authorization_code (default), refresh_token, client_credentials (repeat for more; replaces the list)")
	fs.StringVar(&f.scope, "scope", "", "the scopes the client may ask for, space-separated (default: openid)")
	fs.BoolVar(&f.publicSubject, "public-subject", false, "give the client public subject identifiers instead of pairwise ones (false: back to pairwise)")
	fs.BoolVar(&f.allowIDCard, "allow-id-card", false, "allow the client the "+client.ScopeIDCard+" scope (the resident's ID-card number) and add it to its scopes (false: take both away)")
	fs.BoolVar(&f.admin, "admin", false, "make the client an admin client (admin: true) and add the "+client.ScopeAdmin+" scope, for the admin API with the client_credentials grant (false: take both away)")
	// What residents see on the consent page (an empty value removes it).
	fs.StringVar(&f.nameZH, "name-zh", "", "client_name#zh-Hant, the service's name in Traditional Chinese")
	fs.StringVar(&f.purpose, "purpose", "", "eidp_purpose: one plain sentence (at most 300 characters) telling residents why the service asks for their personal data")
	fs.StringVar(&f.purposeZH, "purpose-zh", "", "eidp_purpose#zh-Hant, the purpose in Traditional Chinese")
	fs.StringVar(&f.logoURI, "logo-uri", "", "logo_uri: the https URL of the service's logo")
	fs.StringVar(&f.clientURI, "client-uri", "", "client_uri: the https URL of the service's home page")
	fs.StringVar(&f.policyURI, "policy-uri", "", "policy_uri: the https URL of the service's privacy policy")
	fs.StringVar(&f.tosURI, "tos-uri", "", "tos_uri: the https URL of the service's terms of use")
}

// textFlag is a string flag that sets one metadata field of a client.
type textFlag struct {
	name  string
	value string
	field *string
}

// textFlags map the consent-page flags to the fields of c.
func (f *clientFlags) textFlags(c *client.Client) []textFlag {
	return []textFlag{
		{"name-zh", f.nameZH, &c.ClientNameZH},
		{"purpose", f.purpose, &c.Purpose},
		{"purpose-zh", f.purposeZH, &c.PurposeZH},
		{"logo-uri", f.logoURI, &c.LogoURI},
		{"client-uri", f.clientURI, &c.ClientURI},
		{"policy-uri", f.policyURI, &c.PolicyURI},
		{"tos-uri", f.tosURI, &c.TOSURI},
	}
}

func (f *clientFlags) given(name string) bool { return slices.Contains(f.set, name) }

// changesFields reports whether a field flag was given.
func (f *clientFlags) changesFields() bool {
	for _, name := range []string{"name", "redirect-uri", "auth-method", "grant", "scope", "public-subject", "allow-id-card", "admin"} {
		if f.given(name) {
			return true
		}
	}
	for _, t := range f.textFlags(&client.Client{}) {
		if f.given(t.name) {
			return true
		}
	}
	return false
}

// apply sets the flagged fields of c.
func (f *clientFlags) apply(c *client.Client) {
	if f.given("id") {
		c.ClientID = f.id
	}
	if f.given("name") {
		c.ClientName = f.name
	}
	for _, t := range f.textFlags(c) {
		if f.given(t.name) {
			*t.field = t.value
		}
	}
	if f.given("redirect-uri") {
		c.RedirectURIs = slices.Clone(f.redirectURIs)
	}
	if f.given("auth-method") {
		c.TokenEndpointAuthMethod = f.authMethod
	}
	if f.given("grant") {
		c.GrantTypes = slices.Clone(f.grants)
		// Response types follow the grants again (WithDefaults).
		c.ResponseTypes = nil
	}
	if f.given("scope") {
		c.Scope = f.scope
	}
	if f.given("public-subject") {
		c.SubjectType = client.SubjectPairwise
		if f.publicSubject {
			c.SubjectType = client.SubjectPublic
		}
	}
	if f.given("allow-id-card") {
		c.AllowIDCard = f.allowIDCard
		setScope(c, client.ScopeIDCard, f.allowIDCard)
	}
	if f.given("admin") {
		c.Admin = f.admin
		setScope(c, client.ScopeAdmin, f.admin)
	}
}

// setScope adds scope to the client's scopes or takes it away.
func setScope(c *client.Client, scope string, on bool) {
	scopes := slices.DeleteFunc(strings.Fields(c.Scope), func(s string) bool { return s == scope })
	if on {
		if len(scopes) == 0 && (len(c.GrantTypes) == 0 || c.HasGrant(client.GrantAuthorizationCode)) {
			scopes = []string{"openid"} // the default it would otherwise have had
		}
		scopes = append(scopes, scope)
	}
	c.Scope = strings.Join(scopes, " ")
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// checkSector fetches a client's sector_identifier_uri and checks that it
// lists every redirect URI (OpenID Connect Registration §5), with the same
// SSRF-safe fetcher the server uses.
func checkSector(ctx context.Context, cfg *config.Config, c client.Client) error {
	if c.SectorIdentifierURI == "" {
		return nil
	}
	if err := subject.ValidateSectorIdentifierURI(ctx, outboundFetcher(cfg), c.SectorIdentifierURI, c.RedirectURIs); err != nil {
		return fmt.Errorf("sector_identifier_uri: %w", err)
	}
	return nil
}
