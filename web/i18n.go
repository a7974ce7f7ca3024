package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

//go:embed messages/*.json
var messageFiles embed.FS

// Languages, as BCP 47 tags (the same tags OIDC ui_locales uses).
const (
	English            = "en"
	TraditionalChinese = "zh-Hant"
)

var languages = []string{English, TraditionalChinese}

// catalog maps a language to its messages.
type catalog map[string]map[string]string

func loadCatalog() (catalog, error) {
	c := catalog{}
	for _, lang := range languages {
		raw, err := messageFiles.ReadFile("messages/" + lang + ".json")
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("web: messages/%s.json: %w", lang, err)
		}
		c[lang] = m
	}
	for key := range c[English] {
		if _, ok := c[TraditionalChinese][key]; !ok {
			return nil, fmt.Errorf("web: message %q has no Traditional Chinese text", key)
		}
	}
	for key := range c[TraditionalChinese] {
		if _, ok := c[English][key]; !ok {
			return nil, fmt.Errorf("web: message %q has no English text", key)
		}
	}
	return c, nil
}

// text returns a message with {name} placeholders filled from pairs
// (name, value, name, value…). A missing key is a programming error, shown
// loudly so tests catch it.
func (c catalog) text(lang, key string, pairs ...any) string {
	s, ok := c[lang][key]
	if !ok {
		return "!" + key + "!"
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		s = strings.ReplaceAll(s, "{"+fmt.Sprint(pairs[i])+"}", fmt.Sprint(pairs[i+1]))
	}
	return s
}

// langCookie remembers the language toggle.
const langCookie = "eidp_lang"

// matchLanguage maps a language tag to one we have: zh-Hant, zh-TW, zh-HK
// and zh-MO → Traditional Chinese; any other en or zh → as close as we
// have (Simplified-only readers still read Traditional better than English,
// but we say which we serve through the lang attribute).
func matchLanguage(tag string) (string, bool) {
	t := strings.ToLower(strings.TrimSpace(tag))
	switch {
	case t == "":
		return "", false
	case t == "en" || strings.HasPrefix(t, "en-"):
		return English, true
	case t == "zh" || strings.HasPrefix(t, "zh-"):
		return TraditionalChinese, true
	}
	return "", false
}

// negotiateLanguage picks the page language: ui_locales (OIDC Core §3.1.2.1,
// space-separated, in order of preference), then the remembered toggle,
// then Accept-Language (RFC 9110 §12.5.4, by q-value), then English.
// Language is the language the pages would use for r ("en" or "zh-Hant"):
// ui_locales, then the remembered choice, then Accept-Language. The
// provider uses it for the locale claim.
func Language(r *http.Request) string { return negotiateLanguage(r) }

func negotiateLanguage(r *http.Request) string {
	for _, tag := range strings.Fields(r.URL.Query().Get("ui_locales")) {
		if l, ok := matchLanguage(tag); ok {
			return l
		}
	}
	if c, err := r.Cookie(langCookie); err == nil {
		if l, ok := matchLanguage(c.Value); ok {
			return l
		}
	}
	best, bestQ := "", 0.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
				continue
			}
		}
		if l, ok := matchLanguage(tag); ok && q > bestQ {
			best, bestQ = l, q
		}
	}
	if best != "" {
		return best
	}
	return English
}

var monthsEN = [...]string{"January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December"}

// formatDate writes a date the way each language does.
func formatDate(lang string, t time.Time) string {
	if lang == TraditionalChinese {
		return fmt.Sprintf("%d年%d月%d日", t.Year(), int(t.Month()), t.Day())
	}
	return fmt.Sprintf("%d %s %d", t.Day(), monthsEN[t.Month()-1], t.Year())
}

// formatDateTime adds the time of day (24-hour clock, Hong Kong time).
func formatDateTime(lang string, t time.Time) string {
	t = t.In(hongKong)
	return formatDate(lang, t) + " " + t.Format("15:04")
}

// hongKong is the city's time zone (UTC+8, no daylight saving). A fixed
// zone keeps the binary independent of the host's tzdata.
var hongKong = time.FixedZone("HKT", 8*60*60)
