package web

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"eidp/hsm/keyring"
	"eidp/hsm/soft"
	"eidp/idp/passkey/passkeytest"
	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/vault"
	"eidp/vault/accesslog"
	"eidp/vault/attr"
)

// deletions records DeleteAccount calls; the lead's real implementation is
// tested where it lives.
type deletions struct {
	mu    sync.Mutex
	calls []string
}

func (d *deletions) delete(_ context.Context, residentID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, residentID)
	return nil
}

func (d *deletions) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// vaultSite is a site with a real vault (soft key backend), a real access
// log, and one registered, logged-in resident.
type vaultSite struct {
	*site
	vault    *vault.Vault
	log      *accesslog.Log
	deleted  *deletions
	c        *http.Client
	resident string
}

// openVault builds the vault on d with a soft key backend in a temp dir.
func openVault(t *testing.T, d *db.DB) *vault.Vault {
	t.Helper()
	ctx := context.Background()
	km, err := soft.Open(ctx, soft.Options{Dir: t.TempDir(), MasterKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	ring := keyring.New(d, km)
	if _, _, err := ring.Ensure(ctx, keyring.VaultKEK); err != nil {
		t.Fatal(err)
	}
	return vault.New(d, ring, km, vault.Options{SchemaVersion: attr.SchemaVersion})
}

func newVaultSite(t *testing.T, dbURL string) *vaultSite {
	t.Helper()
	vs := &vaultSite{deleted: &deletions{}}
	st := newSite(t, dbURL, func(d *Deps) {
		vs.vault = openVault(t, d.DB)
		vs.log = accesslog.New(d.DB)
		d.Vault, d.AccessLog, d.DeleteAccount = vs.vault, vs.log, vs.deleted.delete
	})
	vs.site = st
	vs.c = st.browser(t)
	st.register(t, vs.c, passkeytest.NewAuthenticator(st.origin()), chanTaiMan)
	resident, err := st.Accounts.ByIDNumber(context.Background(), "A1234563")
	if err != nil {
		t.Fatal(err)
	}
	vs.resident = resident.ID
	return vs
}

// post submits a form in a language, with the browser's CSRF token.
func (vs *vaultSite) post(t *testing.T, path, accept string, form url.Values) (*http.Response, string) {
	t.Helper()
	_, _, token := vs.get(t, vs.c, "/account")
	req, _ := http.NewRequest("POST", vs.ts.URL+path, strings.NewReader(withCSRF(form, token).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if accept != "" {
		req.Header.Set("Accept-Language", accept)
	}
	resp, body := vs.do(t, req)
	return resp, body
}

func (vs *vaultSite) do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := vs.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// stored returns the resident's attribute n (ok false if there is none).
func (vs *vaultSite) stored(t *testing.T, n attr.Name) (vault.Attribute, bool) {
	t.Helper()
	list, err := vs.vault.Get(context.Background(), vs.resident, string(n))
	if errors.Is(err, vault.ErrErased) || errors.Is(err, vault.ErrNotFound) {
		return vault.Attribute{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.Name == string(n) {
			return a, true
		}
	}
	return vault.Attribute{}, false
}

// card is the My data page's card of one attribute.
func card(body string, n attr.Name) string {
	m := regexp.MustCompile(`(?s)<li class="card" data-attribute="` + string(n) + `">.*?</li>`).FindString(body)
	return m
}

// hiddenVersion reads the version an edit form or a card carries.
var hiddenVersion = regexp.MustCompile(`name="version" value="(\d+)"`)

func versionIn(t *testing.T, html string) string {
	t.Helper()
	m := hiddenVersion.FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no version field in:\n%s", html)
	}
	return m[1]
}

func option(n attr.Name, field string, i int) string {
	return attr.Options(n, field, English)[i].Value
}

// validForms is a valid form for every attribute, and a second one to edit
// it to.
func validForms() map[attr.Name][2]url.Values {
	district := func(i int) string { return option(attr.ResidentialAddress, attr.FieldDistrict, i) }
	return map[attr.Name][2]url.Values{
		attr.ResidentialAddress: {
			{"flat": {"A"}, "floor": {"12"}, "building": {"Harbour View Mansion"}, "street_number": {"8"}, "street": {"Harbour Road"}, "district": {district(1)}},
			{"block": {"3"}, "building": {"Sun Chuen House"}, "estate": {"Sun Chuen Estate"}, "district": {district(10)}},
		},
		attr.CorrespondenceAddress: {
			{"free_text": {"PO Box 1234\nGeneral Post Office\nCentral"}},
			{"street_number": {"1"}, "street": {"Queen's Road Central"}, "district": {district(0)}},
		},
		attr.MobilePhone:       {{"value": {"9123 4567"}}, {"value": {"+852 6123 4567"}}},
		attr.OtherPhone:        {{"value": {"2123 4567"}}, {"value": {"+44 20 7946 0000"}}},
		attr.Email:             {{"value": {"chan.taiman@example.com"}}, {"value": {"tm.chan@example.org"}}},
		attr.PreferredLanguage: {{"value": {option(attr.PreferredLanguage, "", 0)}}, {"value": {option(attr.PreferredLanguage, "", 1)}}},
		attr.EducationLevel:    {{"value": {option(attr.EducationLevel, "", 0)}}, {"value": {option(attr.EducationLevel, "", 2)}}},
		attr.Occupation:        {{"value": {"Teacher"}}, {"value": {"教師"}}},
		attr.MaritalStatus:     {{"value": {option(attr.MaritalStatus, "", 0)}}, {"value": {option(attr.MaritalStatus, "", 1)}}},
		attr.EmergencyContact: {
			{"name": {"CHAN Siu Ming"}, "relationship": {option(attr.EmergencyContact, attr.FieldRelationship, 0)}, "phone": {"9876 5432"}},
			{"name": {"LEE Mei"}, "relationship": {option(attr.EmergencyContact, attr.FieldRelationship, 2)}, "phone": {"+852 5123 4567"}},
		},
	}
}

// expectedValue is what attr.Validate makes of a form, the value the
// vault must then hold.
func expectedValue(t *testing.T, n attr.Name, form url.Values) json.RawMessage {
	t.Helper()
	want, err := attr.Validate(n, valueJSON(n, postedValues(n, fields(form))))
	if err != nil {
		t.Fatalf("%s: the test's form is not valid: %v", n, err)
	}
	return want
}

// fields names a form's attribute fields as the page posts them.
func fields(form url.Values) url.Values {
	out := url.Values{}
	for k, v := range form {
		out["field-"+k] = v
	}
	return out
}

func withName(n attr.Name, version string, form url.Values) url.Values {
	out := fields(form)
	out.Set("name", string(n))
	out.Set("version", version)
	return out
}

func TestEveryAttributeCanBeAddedEditedAndRemoved(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			vs := newVaultSite(t, d.URL)
			forms := validForms()
			for _, n := range attr.Names() {
				t.Run(string(n), func(t *testing.T) {
					// The card offers to add it; the form has the right inputs.
					_, body, _ := vs.get(t, vs.c, "/account/data")
					if c := card(body, n); !strings.Contains(c, `href="/account/data/edit?name=`+string(n)+`"`) || strings.Contains(c, "/account/data/remove") {
						t.Fatalf("card of an attribute not set:\n%s", c)
					}
					code, form, _ := vs.get(t, vs.c, "/account/data/edit?name="+string(n))
					if code != http.StatusOK || versionIn(t, form) != "0" {
						t.Fatalf("edit page: %d\n%s", code, form)
					}
					for key := range forms[n][0] {
						if !strings.Contains(form, `name="field-`+key+`"`) {
							t.Errorf("the form has no input %s", key)
						}
					}

					// Add.
					resp, _ := vs.post(t, "/account/data/edit", "", withName(n, "0", forms[n][0]))
					if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/account/data?done=saved") {
						t.Fatalf("add: %d %s", resp.StatusCode, resp.Header.Get("Location"))
					}
					a, ok := vs.stored(t, n)
					if !ok || string(a.Value) != string(expectedValue(t, n, forms[n][0])) {
						t.Fatalf("stored %s (%v), want %s", a.Value, ok, expectedValue(t, n, forms[n][0]))
					}
					if a.Source != "resident" || a.Verified {
						t.Errorf("provenance %+v", a.Provenance)
					}
					_, body, _ = vs.get(t, vs.c, resp.Header.Get("Location"))
					c := html.UnescapeString(card(body, n))
					display := attr.Display(n, a.Value, English)
					if !strings.Contains(c, display) || !strings.Contains(c, "You entered this on "+formatDate(English, a.UpdatedAt.In(hongKong))) {
						t.Errorf("card after adding does not show %q with its provenance:\n%s", display, c)
					}
					if !strings.Contains(body, "Saved: "+attr.Label(n, English)) {
						t.Errorf("no notice")
					}

					// Edit: the form shows the stored value and its version.
					_, form, _ = vs.get(t, vs.c, "/account/data/edit?name="+string(n))
					version := versionIn(t, form)
					if version == "0" {
						t.Fatal("the edit form does not carry the stored version")
					}
					resp, _ = vs.post(t, "/account/data/edit", "", withName(n, version, forms[n][1]))
					if resp.StatusCode != http.StatusSeeOther {
						t.Fatalf("edit: %d", resp.StatusCode)
					}
					if a, _ = vs.stored(t, n); string(a.Value) != string(expectedValue(t, n, forms[n][1])) {
						t.Fatalf("after the edit: %s", a.Value)
					}

					// Remove.
					_, body, _ = vs.get(t, vs.c, "/account/data")
					resp, _ = vs.post(t, "/account/data/remove", "", url.Values{"name": {string(n)}, "version": {versionIn(t, card(body, n))}})
					if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/data?done=removed" {
						t.Fatalf("remove: %d %s", resp.StatusCode, resp.Header.Get("Location"))
					}
					if _, ok := vs.stored(t, n); ok {
						t.Fatal("still stored after removal")
					}
				})
			}
		})
	}
}

func TestTheEditFormIsAccessible(t *testing.T) {
	vs := newVaultSite(t, testenv.SQLite(t))
	_, body, _ := vs.get(t, vs.c, "/account/data/edit?name=residential_address")
	for _, want := range []string{
		`<legend>Address</legend>`, `<legend>Or write the whole address</legend>`,
		`<label for="field-district">District</label>`, `<select id="field-district" name="field-district"`,
		`<option value="wan-chai">Wan Chai</option>`, `<textarea id="field-free_text" name="field-free_text" rows="4" maxlength="300" autocomplete="street-address"`,
		`<input id="field-flat" name="field-flat" type="text" value="" maxlength="20"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the address form lacks %s", want)
		}
	}
	if strings.Contains(body, `name="field-region"`) {
		t.Error("the region is asked; it follows from the district")
	}
	_, body, _ = vs.get(t, vs.c, "/account/data/edit?name=mobile_phone")
	if !strings.Contains(body, `type="tel"`) || !strings.Contains(body, `autocomplete="tel" inputmode="tel"`) {
		t.Errorf("the phone input:\n%s", body)
	}
	_, body, _ = vs.get(t, vs.c, "/account/data/edit?name=email")
	if !strings.Contains(body, `type="email"`) || !strings.Contains(body, `autocomplete="email"`) {
		t.Errorf("the email input:\n%s", body)
	}
	_, body, _ = vs.get(t, vs.c, "/account/data/edit?name=emergency_contact")
	if !strings.Contains(body, `<select id="field-relationship" name="field-relationship"`) || !strings.Contains(body, `<input id="field-phone" name="field-phone" type="tel"`) {
		t.Errorf("the emergency contact form:\n%s", body)
	}
	for _, bad := range []string{"?name=", "?name=nope", "?name=" + strings.Repeat("a", 100)} {
		if code, _, _ := vs.get(t, vs.c, "/account/data/edit"+bad); code != http.StatusNotFound {
			t.Errorf("edit page %s: %d", bad, code)
		}
	}
}

func TestValidationErrorsAreShownAtTheirFieldsAndNothingIsStored(t *testing.T) {
	vs := newVaultSite(t, testenv.SQLite(t))
	cases := []struct {
		name   attr.Name
		form   url.Values
		fields []string // the inputs that must be marked invalid
		typed  string   // what the resident typed, shown again
	}{
		{attr.MobilePhone, url.Values{"value": {"12<34>"}}, []string{"value"}, "12&lt;34&gt;"},
		{attr.Email, url.Values{"value": {"chan at example"}}, []string{"value"}, "chan at example"},
		{attr.ResidentialAddress, url.Values{"street_number": {"8"}, "flat": {"B"}}, nil, "value=\"B\""},
		{attr.CorrespondenceAddress, url.Values{"street": {"Nathan Road"}, "street_number": {"1"}, "free_text": {"PO Box 1"}}, nil, "PO Box 1"},
		{attr.EmergencyContact, url.Values{"name": {""}, "relationship": {"nemesis"}, "phone": {"1"}}, []string{"name", "relationship", "phone"}, `value="1"`},
		{attr.MaritalStatus, url.Values{"value": {"complicated"}}, []string{"value"}, ""},
	}
	for _, lang := range []struct{ accept, tag string }{{"en", English}, {"zh-HK", TraditionalChinese}} {
		for _, tc := range cases {
			t.Run(lang.tag+"/"+string(tc.name), func(t *testing.T) {
				_, err := attr.Validate(tc.name, valueJSON(tc.name, postedValues(tc.name, fields(tc.form))))
				var want *attr.Errors
				if !errors.As(err, &want) {
					t.Fatalf("the test's form is valid: %v", err)
				}
				resp, body := vs.post(t, "/account/data/edit", lang.accept, withName(tc.name, "0", tc.form))
				if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `<html lang="`+lang.tag+`">`) {
					t.Fatalf("status %d\n%s", resp.StatusCode, body)
				}
				for _, fe := range want.List {
					if msg := fe.Message(lang.tag); !strings.Contains(html.UnescapeString(body), msg) {
						t.Errorf("the page does not say %q", msg)
					}
				}
				if !strings.Contains(body, `id="error-summary"`) || !strings.Contains(body, `<a href="#field-`) {
					t.Error("no error summary linking to the fields")
				}
				for _, f := range tc.fields {
					input := regexp.MustCompile(`<(input|select|textarea) id="field-` + f + `"[^>]*>`).FindString(body)
					if !strings.Contains(input, `aria-invalid="true"`) || !strings.Contains(input, `aria-describedby="field-`+f+`-error"`) {
						t.Errorf("field %s is not marked invalid: %s", f, input)
					}
					if !strings.Contains(body, `id="field-`+f+`-error"`) {
						t.Errorf("field %s has no message beside it", f)
					}
				}
				if !strings.Contains(body, tc.typed) {
					t.Errorf("what the resident typed (%s) is gone", tc.typed)
				}
				if m := missingMessage.FindString(body); m != "" {
					t.Errorf("untranslated %s", m)
				}
				if _, ok := vs.stored(t, tc.name); ok {
					t.Error("an invalid value was stored")
				}
			})
		}
	}

	t.Run("bad names and versions are refused", func(t *testing.T) {
		for _, form := range []url.Values{
			{"name": {"nope"}, "version": {"0"}, "field-value": {"x"}},
			{"name": {"email"}, "version": {"-1"}, "field-value": {"a@example.com"}},
			{"name": {"email"}, "version": {"one"}, "field-value": {"a@example.com"}},
		} {
			if resp, _ := vs.post(t, "/account/data/edit", "", form); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%v: %d", form, resp.StatusCode)
			}
		}
		if _, ok := vs.stored(t, attr.Email); ok {
			t.Error("stored")
		}
	})

	t.Run("an oversized form is refused", func(t *testing.T) {
		resp, _ := vs.post(t, "/account/data/edit", "", url.Values{"name": {"occupation"}, "version": {"0"}, "field-value": {strings.Repeat("a", 20<<10)}})
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%d", resp.StatusCode)
		}
		if _, ok := vs.stored(t, attr.Occupation); ok {
			t.Error("stored")
		}
	})

	t.Run("a value too long for the field gets its message", func(t *testing.T) {
		resp, body := vs.post(t, "/account/data/edit", "", url.Values{"name": {"occupation"}, "version": {"0"}, "field-value": {strings.Repeat("a", 101)}})
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "at most 100 characters") {
			t.Errorf("%d\n%s", resp.StatusCode, body)
		}
	})
}

func TestFormsNeedCSRFAndASession(t *testing.T) {
	vs := newVaultSite(t, testenv.SQLite(t))
	for _, path := range []string{"/account/data/edit", "/account/data/remove", "/account/data/erase", "/account/delete"} {
		resp, err := vs.c.PostForm(vs.ts.URL+path, url.Values{"name": {"email"}, "version": {"0"}, "value": {"a@example.com"}, "confirm": {"yes"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without CSRF: %d", path, resp.StatusCode)
		}
	}
	if _, ok := vs.stored(t, attr.Email); ok || len(vs.deleted.list()) != 0 {
		t.Error("a form without CSRF changed something")
	}

	stranger := vs.browser(t)
	for _, path := range []string{"/account/data", "/account/data/edit?name=email", "/account/data/erase", "/account/delete"} {
		resp, _ := vs.fetch(t, stranger, path)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("GET %s without a session: %d → %s", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	token := vs.csrf(t, stranger)
	for _, path := range []string{"/account/data/edit", "/account/data/remove", "/account/data/erase", "/account/delete"} {
		resp, _ := vs.postForm(t, stranger, path, url.Values{"csrf": {token}, "name": {"email"}, "version": {"1"}, "value": {"a@example.com"}, "confirm": {"yes"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("POST %s without a session: %d → %s", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if len(vs.deleted.list()) != 0 {
		t.Error("deleted without a session")
	}
}

func TestWithoutAVaultThereAreNoDataPages(t *testing.T) {
	st := newSite(t, testenv.SQLite(t))
	c := st.browser(t)
	st.register(t, c, passkeytest.NewAuthenticator(st.origin()), chanTaiMan)
	for _, path := range []string{"/account/data", "/account/data/edit?name=email", "/account/data/erase", "/account/delete"} {
		if code, _, _ := st.get(t, c, path); code != http.StatusNotFound {
			t.Errorf("%s: %d", path, code)
		}
	}
	token := st.csrf(t, c)
	for _, path := range []string{"/account/data/edit", "/account/data/remove", "/account/data/erase", "/account/delete"} {
		if resp, _ := st.postForm(t, c, path, url.Values{"csrf": {token}, "confirm": {"yes"}}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s: %d", path, resp.StatusCode)
		}
	}
	if _, body, _ := st.get(t, c, "/account"); strings.Contains(body, "/account/data") || strings.Contains(body, "/account/delete") {
		t.Error("the account page links to pages that are not there")
	}
}

func TestAChangeInAnotherWindowIsNotOverwritten(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			vs := newVaultSite(t, d.URL)
			ctx := context.Background()
			resp, _ := vs.post(t, "/account/data/edit", "", withName(attr.Email, "0", url.Values{"value": {"first@example.com"}}))
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("add: %d", resp.StatusCode)
			}
			_, form, _ := vs.get(t, vs.c, "/account/data/edit?name=email")
			loaded := versionIn(t, form)

			// Another window saves meanwhile.
			a, _ := vs.stored(t, attr.Email)
			other, err := vs.vault.Put(ctx, vs.resident, string(attr.Email), json.RawMessage(`"other@example.com"`), vault.Provenance{Source: "resident"}, a.Version)
			if err != nil {
				t.Fatal(err)
			}

			for _, lang := range []struct{ accept, words string }{
				{"en", "This changed in another window; here is the current value:"},
				{"zh-HK", "此資料已在另一個視窗更改"},
			} {
				resp, body := vs.post(t, "/account/data/edit", lang.accept, withName(attr.Email, loaded, url.Values{"value": {"mine@example.com"}}))
				if resp.StatusCode != http.StatusConflict || !strings.Contains(body, lang.words) {
					t.Fatalf("%s: stale save: %d\n%s", lang.accept, resp.StatusCode, body)
				}
				if !strings.Contains(body, `id="conflict-current">other@example.com<`) || !strings.Contains(body, `value="mine@example.com"`) {
					t.Errorf("the page shows neither the current value nor what was typed:\n%s", body)
				}
				if got := versionIn(t, body); got == loaded {
					t.Errorf("the form still carries the stale version %s", got)
				}
				if a, _ := vs.stored(t, attr.Email); string(a.Value) != `"other@example.com"` {
					t.Fatalf("the other window's value was overwritten: %s", a.Value)
				}
			}

			// Saving again from the conflict page is a deliberate choice.
			_, body := vs.post(t, "/account/data/edit", "", withName(attr.Email, loaded, url.Values{"value": {"mine@example.com"}}))
			resp, _ = vs.post(t, "/account/data/edit", "", withName(attr.Email, versionIn(t, body), url.Values{"value": {"mine@example.com"}}))
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("save after the conflict: %d", resp.StatusCode)
			}
			if a, _ := vs.stored(t, attr.Email); string(a.Value) != `"mine@example.com"` || a.Version <= other.Version {
				t.Fatalf("after the deliberate save: %s v%d", a.Value, a.Version)
			}

			// A stale remove removes nothing.
			resp, _ = vs.post(t, "/account/data/remove", "", url.Values{"name": {"email"}, "version": {loaded}})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/data?done=conflict" {
				t.Fatalf("stale remove: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			if _, ok := vs.stored(t, attr.Email); !ok {
				t.Fatal("a stale remove removed the value")
			}
			if _, body, _ := vs.get(t, vs.c, "/account/data?done=conflict"); !strings.Contains(body, "nothing was removed") {
				t.Error("the page does not say why nothing was removed")
			}
		})
	}
}

func TestProvenanceInPlainWords(t *testing.T) {
	vs := newVaultSite(t, testenv.SQLite(t))
	ctx := context.Background()
	if _, err := vs.vault.Put(ctx, vs.resident, string(attr.EducationLevel), json.RawMessage(`"`+option(attr.EducationLevel, "", 1)+`"`),
		vault.Provenance{Source: "department:edb", Verified: true}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.vault.Put(ctx, vs.resident, string(attr.Occupation), json.RawMessage(`"Nurse"`),
		vault.Provenance{Source: "department:labour"}, 0); err != nil {
		t.Fatal(err)
	}
	edu, _ := vs.stored(t, attr.EducationLevel)
	occ, _ := vs.stored(t, attr.Occupation)
	for _, lang := range []struct {
		accept, tag string
		words       []string
	}{
		{"en", English, []string{"From the civil register", "CHAN Tai Man",
			"Verified by edb on " + formatDate(English, edu.UpdatedAt.In(hongKong)),
			"Entered by labour on " + formatDate(English, occ.UpdatedAt.In(hongKong))}},
		{"zh-HK", TraditionalChinese, []string{"來自民事登記",
			"由edb於" + formatDate(TraditionalChinese, edu.UpdatedAt.In(hongKong)) + "核實",
			"由labour於" + formatDate(TraditionalChinese, occ.UpdatedAt.In(hongKong)) + "輸入"}},
	} {
		_, body, _ := vs.get(t, vs.c, "/account/data", "Accept-Language", lang.accept)
		for _, w := range lang.words {
			if !strings.Contains(body, w) {
				t.Errorf("%s: the page does not say %q", lang.tag, w)
			}
		}
		for _, n := range attr.Names() {
			if !strings.Contains(card(body, n), html.EscapeString(attr.Label(n, lang.tag))) {
				t.Errorf("%s: no card for %s", lang.tag, n)
			}
		}
		if m := missingMessage.FindString(body); m != "" {
			t.Errorf("untranslated %s", m)
		}
	}
}

func TestEraseDeletesEverythingTheResidentEntered(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			vs := newVaultSite(t, d.URL)
			forms := validForms()
			for _, n := range []attr.Name{attr.MobilePhone, attr.ResidentialAddress} {
				if resp, _ := vs.post(t, "/account/data/edit", "", withName(n, "0", forms[n][0])); resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("add %s: %d", n, resp.StatusCode)
				}
			}
			_, body, _ := vs.get(t, vs.c, "/account/data")
			if !strings.Contains(body, `href="/account/data/erase"`) {
				t.Fatal("no link to erase")
			}
			code, body, _ := vs.get(t, vs.c, "/account/data/erase")
			if code != http.StatusOK || !strings.Contains(body, `id="erase-confirm"`) {
				t.Fatalf("confirmation page: %d\n%s", code, body)
			}
			resp, _ := vs.post(t, "/account/data/erase", "", nil)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/data?done=erased" {
				t.Fatalf("erase: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			if _, err := vs.vault.Get(context.Background(), vs.resident); !errors.Is(err, vault.ErrErased) {
				t.Errorf("after erasing, Get: %v", err)
			}
			_, body, _ = vs.get(t, vs.c, "/account/data?done=erased")
			if !strings.Contains(body, "All the data you entered was deleted.") || strings.Contains(body, "/account/data/remove") ||
				strings.Contains(body, `href="/account/data/erase"`) || !strings.Contains(body, "CHAN Tai Man") {
				t.Errorf("the page after erasing:\n%s", body)
			}
			// The vault works again after an erasure.
			if resp, _ := vs.post(t, "/account/data/edit", "", withName(attr.Email, "0", forms[attr.Email][0])); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("add after erasing: %d", resp.StatusCode)
			}
		})
	}
}

func TestTheAccessLogInPlainWords(t *testing.T) {
	vs := newVaultSite(t, testenv.SQLite(t))
	ctx := context.Background()
	for _, lang := range []struct{ accept, words string }{{"en", "No service has read your data yet."}, {"zh-HK", "尚未有服務讀取您的資料。"}} {
		if _, body, _ := vs.get(t, vs.c, "/account/data", "Accept-Language", lang.accept); !strings.Contains(body, `id="no-releases">`+lang.words) {
			t.Errorf("%s: no empty state", lang.accept)
		}
	}
	if _, body, _ := vs.get(t, vs.c, "/account"); strings.Contains(body, `id="recent-releases"`) {
		t.Error("recent releases shown before any")
	}

	first, err := vs.log.Append(ctx, accesslog.Entry{ResidentID: vs.resident, ClientID: "library", ClientName: "City Library",
		Attributes: []string{"mobile_phone", "email"}, Consent: "c1", RequestID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := vs.log.Append(ctx, accesslog.Entry{ResidentID: vs.resident, ClientID: "housing", ClientName: "Housing Authority",
		Attributes: []string{"residential_address", "emergency_contact", "marital_status"}, Consent: "c2", RequestID: "r2"})
	if err != nil {
		t.Fatal(err)
	}
	at := func(e accesslog.Entry, lang string) (string, string) {
		t := e.At.In(hongKong)
		return shortDate(lang, t, time.Now().In(hongKong)), t.Format("15:04")
	}
	d1, t1 := at(first, English)
	d2, t2 := at(second, English)
	z1, _ := at(first, TraditionalChinese)
	z2, _ := at(second, TraditionalChinese)
	en := []string{
		"Housing Authority read your residential address, marital status and emergency contact on " + d2 + " at " + t2,
		"City Library read your mobile phone number and email address on " + d1 + " at " + t1,
	}
	zh := []string{
		"Housing Authority於" + z2 + " " + t2 + "讀取了您的住址、婚姻狀況和緊急聯絡人",
		"City Library於" + z1 + " " + t1 + "讀取了您的流動電話號碼和電郵地址",
	}
	for _, lang := range []struct {
		accept string
		lines  []string
	}{{"en", en}, {"zh-HK", zh}} {
		_, body, _ := vs.get(t, vs.c, "/account/data", "Accept-Language", lang.accept)
		list := regexp.MustCompile(`(?s)<ul class="activity" id="access-log">(.*?)</ul>`).FindStringSubmatch(body)
		if list == nil {
			t.Fatalf("%s: no access log:\n%s", lang.accept, body)
		}
		var got []string
		for _, m := range regexp.MustCompile(`<li>(.*?)</li>`).FindAllStringSubmatch(list[1], -1) {
			got = append(got, html.UnescapeString(m[1]))
		}
		if !slices.Equal(got, lang.lines) {
			t.Errorf("%s: access log\n got %q\nwant %q", lang.accept, got, lang.lines)
		}
		_, body, _ = vs.get(t, vs.c, "/account", "Accept-Language", lang.accept)
		if !strings.Contains(html.UnescapeString(body), lang.lines[0]) || !strings.Contains(body, `href="/account/data"`) {
			t.Errorf("%s: the account page has no recent releases or no link to My data", lang.accept)
		}
	}
}

func TestJoinNaturally(t *testing.T) {
	st := newSite(t, testenv.SQLite(t))
	for _, tc := range []struct {
		lang  string
		items []string
		want  string
	}{
		{English, []string{"a"}, "a"},
		{English, []string{"a", "b"}, "a and b"},
		{English, []string{"a", "b", "c"}, "a, b and c"},
		{TraditionalChinese, []string{"甲", "乙", "丙"}, "甲、乙和丙"},
	} {
		if got := st.joinNaturally(tc.lang, tc.items); got != tc.want {
			t.Errorf("%s %q → %q, want %q", tc.lang, tc.items, got, tc.want)
		}
	}
	if lowerFirst("Email address") != "email address" || lowerFirst("SMS number") != "SMS number" {
		t.Error("lowerFirst")
	}
}

func TestDeletingTheAccount(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			vs := newVaultSite(t, d.URL)
			for _, lang := range []struct{ accept, words string }{{"en", "cannot be undone"}, {"zh-HK", "無法復原"}} {
				code, body, _ := vs.get(t, vs.c, "/account/delete", "Accept-Language", lang.accept)
				if code != http.StatusOK || !strings.Contains(body, lang.words) || !strings.Contains(body, `type="checkbox" id="delete-confirm-box" name="confirm"`) {
					t.Fatalf("%s: delete page %d\n%s", lang.accept, code, body)
				}
			}
			if _, body, _ := vs.get(t, vs.c, "/account"); !strings.Contains(body, `href="/account/delete"`) {
				t.Error("the account page does not link to deletion")
			}

			// Without the checkbox: a clear error at the checkbox, nothing deleted.
			for _, lang := range []struct{ accept, words string }{{"en", "Tick the box"}, {"zh-HK", "請勾選方格"}} {
				resp, body := vs.post(t, "/account/delete", lang.accept, nil)
				if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, lang.words) ||
					!strings.Contains(body, `aria-invalid="true" aria-describedby="delete-confirm-error"`) {
					t.Errorf("%s: without the checkbox: %d\n%s", lang.accept, resp.StatusCode, body)
				}
			}
			if n := len(vs.deleted.list()); n != 0 {
				t.Fatalf("deleted %d times without confirmation", n)
			}

			resp, body := vs.post(t, "/account/delete", "", url.Values{"confirm": {"yes"}})
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Your eID was deleted") {
				t.Fatalf("delete: %d\n%s", resp.StatusCode, body)
			}
			if got := vs.deleted.list(); !slices.Equal(got, []string{vs.resident}) {
				t.Errorf("DeleteAccount calls: %v", got)
			}
			cleared := false
			for _, c := range resp.Cookies() {
				if c.Name == "eidp_session" && c.MaxAge < 0 {
					cleared = true
				}
			}
			if !cleared {
				t.Errorf("the session cookie was not cleared: %v", resp.Header.Values("Set-Cookie"))
			}
			if strings.Contains(body, `action="/logout"`) {
				t.Error("the page after deletion still shows a logged-in header")
			}
			if code, _, _ := vs.get(t, vs.c, "/account"); code != http.StatusSeeOther {
				t.Errorf("the account page after deletion: %d", code)
			}
			// A second submission (the back button) deletes nothing more.
			token := vs.csrf(t, vs.c)
			vs.postForm(t, vs.c, "/account/delete", url.Values{"csrf": {token}, "confirm": {"yes"}})
			if n := len(vs.deleted.list()); n != 1 {
				t.Errorf("DeleteAccount called %d times", n)
			}
		})
	}
}

func TestDataPagesRenderInBothLanguages(t *testing.T) {
	vs := newVaultSite(t, testenv.SQLite(t))
	paths := []string{"/account", "/account/data", "/account/data/erase", "/account/delete"}
	for _, n := range attr.Names() {
		paths = append(paths, "/account/data/edit?name="+string(n))
	}
	for _, lang := range []struct{ accept, tag, word string }{{"en", English, "My data"}, {"zh-HK", TraditionalChinese, "我的資料"}} {
		for _, path := range paths {
			code, body, _ := vs.get(t, vs.c, path, "Accept-Language", lang.accept)
			if code != http.StatusOK || !strings.Contains(body, `<html lang="`+lang.tag+`">`) {
				t.Errorf("%s %s: %d", lang.tag, path, code)
			}
			if m := missingMessage.FindString(body); m != "" {
				t.Errorf("%s %s: untranslated %s", lang.tag, path, m)
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") {
				t.Errorf("%s %s: inline script", lang.tag, path)
			}
			if strings.Contains(path, "/edit") && !strings.Contains(body, `<form method="post" action="/account/data/edit" novalidate id="edit-form">`) {
				t.Errorf("%s %s: no form", lang.tag, path)
			}
		}
		if _, body, _ := vs.get(t, vs.c, "/account/data", "Accept-Language", lang.accept); !strings.Contains(body, lang.word) {
			t.Errorf("%s: the page is not in that language", lang.tag)
		}
	}
}
