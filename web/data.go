package web

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"eidp/idp/account"
	"eidp/idp/session"
	"eidp/vault"
	"eidp/vault/accesslog"
	"eidp/vault/attr"
)

// The "My data" pages: what the civil register says about the resident,
// what they keep in the personal-data vault (vault/) and which services
// read it (vault/accesslog). Residents see and correct their own data
// (GDPR Art. 15, 16 and 17 in spirit; Hong Kong PDPO DPP 6).

// accessLogLimit is how many releases the My data page lists.
const accessLogLimit = 50

// recentReleases is how many the account page lists.
const recentReleases = 3

// dataView is the My data page's data.
type dataView struct {
	Resident   account.Resident
	IDNumber   string // masked
	Attributes []attributeView
	AnyStored  bool
	ShowLog    bool
	Log        []releaseView
	ShowDelete bool
}

// attributeView is one vault attribute as the resident reads it.
type attributeView struct {
	Name       string
	Label      string
	Set        bool
	Display    string
	Provenance string // in plain words
	Version    int64
}

// releaseView is one line of the access log.
type releaseView struct {
	At   time.Time
	Text string
}

// vaultSession starts every My data page: the vault is wired in and the
// resident logged in. It answers the request itself when it returns false.
func (s *Server) vaultSession(w http.ResponseWriter, r *http.Request) (session.Session, bool) {
	if s.Vault == nil {
		s.notFound(w, r)
		return session.Session{}, false
	}
	return s.requireSession(w, r)
}

// vaultForm is vaultSession for a CSRF-protected form.
func (s *Server) vaultForm(w http.ResponseWriter, r *http.Request) (session.Session, bool) {
	if s.Vault == nil {
		s.notFound(w, r)
		return session.Session{}, false
	}
	return s.accountForm(w, r)
}

// storedAttributes reads the resident's vault, by name. An erased vault
// with nothing stored since is simply empty here.
func (s *Server) storedAttributes(r *http.Request, residentID string) (map[string]vault.Attribute, error) {
	list, err := s.Vault.Get(r.Context(), residentID)
	if errors.Is(err, vault.ErrErased) || errors.Is(err, vault.ErrNotFound) {
		return map[string]vault.Attribute{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]vault.Attribute, len(list))
	for _, a := range list {
		out[a.Name] = a
	}
	return out, nil
}

func (s *Server) dataPage(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.vaultSession(w, r)
	if !ok {
		return
	}
	var notice, errMsg string
	switch r.URL.Query().Get("done") {
	case "saved":
		if n, ok := attr.Parse(r.URL.Query().Get("name")); ok {
			notice = s.message(r, "data.saved", "label", attr.Label(n, negotiateLanguage(r)))
		}
	case "removed":
		notice = s.message(r, "data.removed")
	case "erased":
		notice = s.message(r, "data.erased")
	case "conflict":
		errMsg = s.message(r, "data.conflict_remove")
	}
	s.renderData(w, r, sess, notice, errMsg)
}

func (s *Server) renderData(w http.ResponseWriter, r *http.Request, sess session.Session, notice, errMsg string) {
	ctx := r.Context()
	lang := negotiateLanguage(r)
	resident, err := s.Accounts.Get(ctx, sess.ResidentID)
	var stored map[string]vault.Attribute
	if err == nil {
		stored, err = s.storedAttributes(r, resident.ID)
	}
	var entries []accesslog.Entry
	if err == nil && s.AccessLog != nil {
		entries, err = s.AccessLog.List(ctx, resident.ID, accessLogLimit)
	}
	if err != nil {
		s.Log.ErrorContext(ctx, "my data page", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	v := dataView{Resident: resident, IDNumber: maskIDNumber(resident.IDNumber), ShowLog: s.AccessLog != nil,
		ShowDelete: s.DeleteAccount != nil, Log: s.releases(lang, entries)}
	for _, n := range attr.Names() {
		av := attributeView{Name: string(n), Label: attr.Label(n, lang)}
		if a, ok := stored[string(n)]; ok {
			av.Set, av.Version = true, a.Version
			av.Display = attr.Display(n, a.Value, lang)
			av.Provenance = s.provenance(lang, a.Provenance)
			v.AnyStored = true
		}
		v.Attributes = append(v.Attributes, av)
	}
	s.render(w, r, http.StatusOK, "data", page{Lang: lang, Title: "data.title", Notice: notice, Error: errMsg, Data: v})
}

// provenance says where a value came from, in plain words.
func (s *Server) provenance(lang string, p vault.Provenance) string {
	date := formatDate(lang, p.UpdatedAt.In(hongKong))
	switch src := p.Source; {
	case src == "register":
		return s.msgs.text(lang, "data.from_register")
	case src == "resident":
		return s.msgs.text(lang, "data.from_resident", "date", date)
	case strings.HasPrefix(src, "department:"):
		// Departments have no display names yet: the identifier stands in.
		dept := strings.TrimPrefix(src, "department:")
		if p.Verified {
			return s.msgs.text(lang, "data.verified_by", "department", dept, "date", date)
		}
		return s.msgs.text(lang, "data.from_department", "department", dept, "date", date)
	}
	return s.msgs.text(lang, "data.updated", "date", date)
}

// releases words access-log entries.
func (s *Server) releases(lang string, entries []accesslog.Entry) []releaseView {
	out := make([]releaseView, 0, len(entries))
	now := s.now().In(hongKong)
	for _, e := range entries {
		out = append(out, releaseView{At: e.At, Text: s.releaseText(lang, e, now)})
	}
	return out
}

// releaseText is "City Library read your mobile phone number and email
// address on 3 March at 10:14".
func (s *Server) releaseText(lang string, e accesslog.Entry, now time.Time) string {
	client := e.ClientName
	if client == "" {
		client = e.ClientID
	}
	if client == "" {
		client = s.msgs.text(lang, "activity.a_service")
	}
	// In the order the My data page lists them (the log stores names sorted).
	names := slices.Clone(e.Attributes)
	order := attr.Names()
	rank := func(name string) int {
		if i := slices.Index(order, attr.Name(name)); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(names, func(a, b string) int { return rank(a) - rank(b) })
	labels := make([]string, 0, len(names))
	for _, name := range names {
		labels = append(labels, s.attributeLabel(lang, name))
	}
	at := e.At.In(hongKong)
	return s.msgs.text(lang, "release.line", "client", client, "attributes", s.joinNaturally(lang, labels),
		"date", shortDate(lang, at, now), "time", at.Format("15:04"))
}

// attributeLabel names a vault attribute inside a sentence ("your mobile
// phone number"); a name the vault does not know is shown as it is.
func (s *Server) attributeLabel(lang, name string) string {
	n, ok := attr.Parse(name)
	if !ok {
		return s.msgs.text(lang, "claim_unknown", "name", name)
	}
	label := attr.Label(n, lang)
	if lang == English {
		label = lowerFirst(label)
	}
	return label
}

// lowerFirst lower-cases a label's first letter for use mid-sentence,
// unless the first word is an acronym ("SMS number" stays).
func lowerFirst(s string) string {
	first, size := utf8.DecodeRuneInString(s)
	second, _ := utf8.DecodeRuneInString(s[size:])
	if !unicode.IsUpper(first) || unicode.IsUpper(second) {
		return s
	}
	return string(unicode.ToLower(first)) + s[size:]
}

// joinNaturally lists items as a language does: "a, b and c"; 「a、b和c」.
func (s *Server) joinNaturally(lang string, items []string) string {
	switch len(items) {
	case 0:
		return s.msgs.text(lang, "release.nothing")
	case 1:
		return items[0]
	}
	sep, and := ", ", " and "
	if lang == TraditionalChinese {
		sep, and = "、", "和"
	}
	return strings.Join(items[:len(items)-1], sep) + and + items[len(items)-1]
}

// shortDate leaves out the year when it is this year's.
func shortDate(lang string, t, now time.Time) string {
	if t.Year() != now.Year() {
		return formatDate(lang, t)
	}
	if lang == TraditionalChinese {
		return formatDateNoYearZH(t)
	}
	return formatDateNoYearEN(t)
}

func formatDateNoYearEN(t time.Time) string {
	return strconv.Itoa(t.Day()) + " " + monthsEN[t.Month()-1]
}

func formatDateNoYearZH(t time.Time) string {
	return strconv.Itoa(int(t.Month())) + "月" + strconv.Itoa(t.Day()) + "日"
}

func (s *Server) eraseConfirm(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.vaultSession(w, r); !ok {
		return
	}
	s.render(w, r, http.StatusOK, "data_erase", page{Title: "erase.title"})
}

func (s *Server) eraseSubmit(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.vaultForm(w, r)
	if !ok {
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	if err := s.Vault.Erase(ctx, sess.ResidentID); err != nil {
		s.Log.ErrorContext(ctx, "erasing vault", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	http.Redirect(w, r, "/account/data?done=erased", http.StatusSeeOther)
}
