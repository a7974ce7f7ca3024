package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"eidp/idp/session"
	"eidp/vault"
	"eidp/vault/attr"
)

// The edit form of one vault attribute. Each kind of attribute has its own
// inputs; the form posts plain fields, the page builds the attribute's
// JSON value from them, and attr.Validate is the one judge of what may be
// stored — its messages are shown next to the fields they are about.

// inputKind is how one field is entered.
type inputKind string

const (
	inputText     inputKind = "text"
	inputTel      inputKind = "tel"
	inputEmail    inputKind = "email"
	inputSelect   inputKind = "select"
	inputTextarea inputKind = "textarea"
)

// fieldSpec is one input of an attribute's form.
type fieldSpec struct {
	Key          string // the JSON member ("" for an attribute that is a single string)
	Input        inputKind
	MaxLen       int
	Autocomplete string
	InputMode    string
}

// formSpec is the form of one kind of attribute: groups of fields, each
// group a fieldset when it has a legend.
type formSpec struct {
	Object bool // the value is a JSON object of the fields; else one string
	Groups []groupSpec
}

type groupSpec struct {
	Legend string // message key ("" for no fieldset)
	Hint   string // message key
	Fields []fieldSpec
}

// Field size limits in the browser (maxlength), the same as
// attr.Validate's, which enforces them (and tells the resident) whatever
// the browser sends; the form body as a whole is bounded by
// Server.maxForms.
const (
	maxAddressShort = 20  // flat, floor, block, street number
	maxAddressPart  = 100 // building, estate, street
	maxFreeText     = 300
	maxPhone        = 32 // with spaces, dashes and a +country code
	maxEmail        = 254
	maxShortText    = 100
)

// addressForm is the structured Hong Kong address, or its free-text
// alternative. The region follows from the district.
func addressForm(autocomplete bool) formSpec {
	part := func(key string, max int) fieldSpec {
		return fieldSpec{Key: key, Input: inputText, MaxLen: max}
	}
	free := fieldSpec{Key: attr.FieldFreeText, Input: inputTextarea, MaxLen: maxFreeText}
	if autocomplete {
		// The resident's own home (WCAG 1.3.5); a correspondence address
		// may be anyone's.
		free.Autocomplete = "street-address"
	}
	return formSpec{Object: true, Groups: []groupSpec{
		{Legend: "edit.address_parts", Hint: "edit.address_parts_hint", Fields: []fieldSpec{
			part(attr.FieldFlat, maxAddressShort), part(attr.FieldFloor, maxAddressShort), part(attr.FieldBlock, maxAddressShort),
			part(attr.FieldBuilding, maxAddressPart), part(attr.FieldEstate, maxAddressPart),
			part(attr.FieldStreetNumber, maxAddressShort), part(attr.FieldStreet, maxAddressPart),
			// The region is not asked: attr.Validate derives it from the district.
			{Key: attr.FieldDistrict, Input: inputSelect},
		}},
		{Legend: "edit.address_free", Hint: "edit.address_free_hint", Fields: []fieldSpec{free}},
	}}
}

// formFor returns the form of an attribute.
func formFor(n attr.Name) formSpec {
	single := func(f fieldSpec) formSpec { return formSpec{Groups: []groupSpec{{Fields: []fieldSpec{f}}}} }
	switch n {
	case attr.ResidentialAddress:
		return addressForm(true)
	case attr.CorrespondenceAddress:
		return addressForm(false)
	case attr.MobilePhone:
		return single(fieldSpec{Input: inputTel, MaxLen: maxPhone, Autocomplete: "tel", InputMode: "tel"})
	case attr.OtherPhone:
		return single(fieldSpec{Input: inputTel, MaxLen: maxPhone, Autocomplete: "tel", InputMode: "tel"})
	case attr.Email:
		return single(fieldSpec{Input: inputEmail, MaxLen: maxEmail, Autocomplete: "email", InputMode: "email"})
	case attr.PreferredLanguage, attr.EducationLevel, attr.MaritalStatus:
		return single(fieldSpec{Input: inputSelect})
	case attr.EmergencyContact:
		return formSpec{Object: true, Groups: []groupSpec{{Fields: []fieldSpec{
			// Someone else's details: no autofill from the resident's own.
			{Key: attr.FieldName, Input: inputText, MaxLen: maxShortText, Autocomplete: "off"},
			{Key: attr.FieldRelationship, Input: inputSelect},
			{Key: attr.FieldPhone, Input: inputTel, MaxLen: maxPhone, Autocomplete: "off", InputMode: "tel"},
		}}}}
	}
	return single(fieldSpec{Input: inputText, MaxLen: maxShortText, Autocomplete: "organization-title"})
}

// editView is the edit page's data.
type editView struct {
	Name    string
	Label   string
	Heading string // translated
	Version int64
	Groups  []groupView
	Errors  []fieldView // the fields with an error, for the summary
	// Conflict: the value changed in another window since the form was
	// loaded; Current is the value now stored ("" if it was removed).
	Conflict bool
	Current  string
}

type groupView struct {
	Legend, Hint string // translated
	Fields       []fieldView
}

// fieldView is one input with what the resident typed and its error.
type fieldView struct {
	ID, Key, Label string
	Input          inputKind
	Value          string
	Error          string
	MaxLen         int
	Autocomplete   string
	InputMode      string
	Options        []attr.Option
}

// inputName is the form field an attribute field is posted in: prefixed,
// so that no field (the emergency contact's "name") collides with the
// form's own (the attribute's name, its version, the CSRF token).
func (f fieldSpec) inputName() string {
	return "field-" + f.valueKey()
}

// valueKey is the field's key in the page's maps: its JSON member, or
// "value" for a single-string attribute.
func (f fieldSpec) valueKey() string {
	if f.Key == "" {
		return "value"
	}
	return f.Key
}

// buildEdit lays out the form for name with values (by input name) and
// messages (by input name).
func (s *Server) buildEdit(lang string, n attr.Name, values, messages map[string]string) editView {
	v := editView{Name: string(n), Label: attr.Label(n, lang)}
	for _, g := range formFor(n).Groups {
		gv := groupView{}
		if g.Legend != "" {
			gv.Legend = s.msgs.text(lang, g.Legend)
		}
		if g.Hint != "" {
			gv.Hint = s.msgs.text(lang, g.Hint)
		}
		for _, f := range g.Fields {
			in := f.valueKey()
			fv := fieldView{ID: f.inputName(), Key: f.inputName(), Input: f.Input, Value: values[in], Error: messages[in],
				MaxLen: f.MaxLen, Autocomplete: f.Autocomplete, InputMode: f.InputMode}
			if f.Key == "" {
				fv.Label = v.Label
			} else {
				fv.Label = attr.FieldLabel(n, f.Key, lang)
			}
			if f.Input == inputSelect {
				fv.Options = attr.Options(n, f.Key, lang)
				if len(fv.Options) == 0 {
					// No fixed list for this field: free text.
					fv.Input, fv.MaxLen = inputText, maxShortText
				}
			}
			if fv.Error != "" {
				v.Errors = append(v.Errors, fv)
			}
			gv.Fields = append(gv.Fields, fv)
		}
		v.Groups = append(v.Groups, gv)
	}
	return v
}

// formValues turns a stored value into the form's fields.
func formValues(n attr.Name, raw json.RawMessage) map[string]string {
	out := map[string]string{}
	if len(raw) == 0 {
		return out
	}
	if !formFor(n).Object {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			out["value"] = s
		}
		return out
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return out
	}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// postedValues reads the attribute's fields from the form.
func postedValues(n attr.Name, form url.Values) map[string]string {
	out := map[string]string{}
	for _, g := range formFor(n).Groups {
		for _, f := range g.Fields {
			out[f.valueKey()] = form.Get(f.inputName())
		}
	}
	return out
}

// valueJSON is the attribute value the fields make, before validation.
func valueJSON(n attr.Name, values map[string]string) json.RawMessage {
	var v any = values["value"]
	if formFor(n).Object {
		m := map[string]string{}
		for k, s := range values {
			if s != "" {
				m[k] = s
			}
		}
		v = m
	}
	b, _ := json.Marshal(v)
	return b
}

// fieldMessages places each validation error at its field; an error about
// the whole value goes to the first field.
func fieldMessages(n attr.Name, err *attr.Errors, lang string) map[string]string {
	spec := formFor(n)
	known := map[string]bool{}
	first := ""
	for _, g := range spec.Groups {
		for _, f := range g.Fields {
			known[f.valueKey()] = true
			if first == "" {
				first = f.valueKey()
			}
		}
	}
	out := map[string]string{}
	for _, fe := range err.List {
		field := fe.Field
		if !spec.Object || !known[field] {
			field = first
		}
		if out[field] != "" {
			out[field] += " " + fe.Message(lang)
		} else {
			out[field] = fe.Message(lang)
		}
	}
	return out
}

// editName reads the attribute a request is about.
func editName(v string) (attr.Name, bool) {
	if len(v) > 64 {
		return "", false
	}
	return attr.Parse(v)
}

func (s *Server) editPage(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.vaultSession(w, r)
	if !ok {
		return
	}
	n, ok := editName(r.URL.Query().Get("name"))
	if !ok {
		s.errorPage(w, r, http.StatusNotFound, "error.not_found")
		return
	}
	lang := negotiateLanguage(r)
	current, err := s.currentAttribute(r, sess.ResidentID, n)
	if err != nil {
		s.Log.ErrorContext(r.Context(), "edit page", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	v := s.buildEdit(lang, n, formValues(n, current.Value), nil)
	v.Version = current.Version
	s.renderEdit(w, r, http.StatusOK, lang, v, current.Version != 0)
}

func (s *Server) renderEdit(w http.ResponseWriter, r *http.Request, status int, lang string, v editView, exists bool) {
	key := "edit.add_heading"
	if exists {
		key = "edit.edit_heading"
	}
	label := v.Label
	if lang == English {
		label = lowerFirst(label)
	}
	v.Heading = s.msgs.text(lang, key, "label", label)
	s.render(w, r, status, "data_edit", page{Lang: lang, Title: "edit.title",
		Path: "/account/data/edit?" + url.Values{"name": {v.Name}}.Encode(), Data: v})
}

// currentAttribute is the stored attribute, or a zero one (version 0)
// when there is none.
func (s *Server) currentAttribute(r *http.Request, residentID string, n attr.Name) (vault.Attribute, error) {
	list, err := s.Vault.Get(r.Context(), residentID, string(n))
	if errors.Is(err, vault.ErrErased) || errors.Is(err, vault.ErrNotFound) {
		return vault.Attribute{}, nil
	}
	if err != nil {
		return vault.Attribute{}, err
	}
	for _, a := range list {
		if a.Name == string(n) {
			return a, nil
		}
	}
	return vault.Attribute{}, nil
}

// formVersion reads the version the form was loaded at.
func formVersion(v string) (int64, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0
}

func (s *Server) editSubmit(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.vaultForm(w, r)
	if !ok {
		return
	}
	n, ok := editName(r.PostFormValue("name"))
	version, vok := formVersion(r.PostFormValue("version"))
	if !ok || !vok {
		s.errorPage(w, r, http.StatusBadRequest, "err.bad_request")
		return
	}
	lang := negotiateLanguage(r)
	values := postedValues(n, r.PostForm)
	value, err := attr.Validate(n, valueJSON(n, values))
	var invalid *attr.Errors
	if errors.As(err, &invalid) {
		v := s.buildEdit(lang, n, values, fieldMessages(n, invalid, lang))
		v.Version = version
		s.renderEdit(w, r, http.StatusUnprocessableEntity, lang, v, version != 0)
		return
	}
	if err != nil {
		s.Log.ErrorContext(r.Context(), "validating attribute", "error", err)
		s.errorPage(w, r, http.StatusBadRequest, "err.bad_request")
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	_, err = s.Vault.Put(ctx, sess.ResidentID, string(n), value, vault.Provenance{Source: "resident"}, version)
	if errors.Is(err, vault.ErrConflict) {
		s.editConflict(w, r, sess, n, values)
		return
	}
	if err != nil {
		s.Log.ErrorContext(ctx, "storing attribute", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	http.Redirect(w, r, "/account/data?"+url.Values{"done": {"saved"}, "name": {string(n)}}.Encode(), http.StatusSeeOther)
}

// editConflict shows the form again with what the resident typed, the
// value another window stored meanwhile, and that value's version: saving
// again is then a choice made knowing both.
func (s *Server) editConflict(w http.ResponseWriter, r *http.Request, sess session.Session, n attr.Name, typed map[string]string) {
	lang := negotiateLanguage(r)
	current, err := s.currentAttribute(r, sess.ResidentID, n)
	if err != nil {
		s.Log.ErrorContext(r.Context(), "edit conflict", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	v := s.buildEdit(lang, n, typed, nil)
	v.Conflict, v.Version = true, current.Version
	if current.Version != 0 {
		v.Current = attr.Display(n, current.Value, lang)
	}
	s.renderEdit(w, r, http.StatusConflict, lang, v, current.Version != 0)
}

func (s *Server) removeAttribute(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.vaultForm(w, r)
	if !ok {
		return
	}
	n, ok := editName(r.PostFormValue("name"))
	version, vok := formVersion(r.PostFormValue("version"))
	if !ok || !vok || version == 0 {
		s.errorPage(w, r, http.StatusBadRequest, "err.bad_request")
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	err := s.Vault.Delete(ctx, sess.ResidentID, string(n), version)
	switch {
	case err == nil, errors.Is(err, vault.ErrNotFound), errors.Is(err, vault.ErrErased):
		// Already gone is what the resident wanted.
		http.Redirect(w, r, "/account/data?done=removed", http.StatusSeeOther)
	case errors.Is(err, vault.ErrConflict):
		http.Redirect(w, r, "/account/data?done=conflict", http.StatusSeeOther)
	default:
		s.Log.ErrorContext(ctx, "removing attribute", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
	}
}
