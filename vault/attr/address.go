package attr

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Address is the value of residential_address and correspondence_address:
// either a structured Hong Kong address, or FreeText alone (an address
// abroad, or one the fields do not fit). doc.go gives the rules.
type Address struct {
	Flat         string `json:"flat,omitempty"`          // "A", "1203"
	Floor        string `json:"floor,omitempty"`         // "12", "G"
	Block        string `json:"block,omitempty"`         // "3", "B"
	Building     string `json:"building,omitempty"`      // "Sunshine Court"
	Estate       string `json:"estate,omitempty"`        // "Happy Estate"
	StreetNumber string `json:"street_number,omitempty"` // "123", "2-4"
	Street       string `json:"street,omitempty"`        // "Queen's Road Central"
	District     string `json:"district,omitempty"`      // a district code, "wan-chai"
	Region       string `json:"region,omitempty"`        // "hk-island", "kowloon" or "new-territories"
	FreeText     string `json:"free_text,omitempty"`     // lines separated by "\n"
}

// Structured reports whether any structured field is set.
func (a Address) Structured() bool {
	return a.Flat != "" || a.Floor != "" || a.Block != "" || a.Building != "" || a.Estate != "" ||
		a.StreetNumber != "" || a.Street != "" || a.District != "" || a.Region != ""
}

// validateAddress normalises a and adds what is wrong with it to c.
func validateAddress(c *collector, a Address) Address {
	a.Flat = checkLine(c, FieldFlat, a.Flat, maxAddressShort)
	a.Floor = checkLine(c, FieldFloor, a.Floor, maxAddressShort)
	a.Block = checkLine(c, FieldBlock, a.Block, maxAddressShort)
	a.Building = checkLine(c, FieldBuilding, a.Building, maxAddressPart)
	a.Estate = checkLine(c, FieldEstate, a.Estate, maxAddressPart)
	a.StreetNumber = checkLine(c, FieldStreetNumber, a.StreetNumber, maxAddressShort)
	a.Street = checkLine(c, FieldStreet, a.Street, maxAddressPart)
	a.FreeText = checkFreeText(c, a.FreeText)

	// Codes are matched without regard to case; they are stored canonical.
	district, region := strings.TrimSpace(a.District), strings.TrimSpace(a.Region)
	a.District, a.Region = "", ""
	if district != "" {
		if v, ok := matchChoice(choicesFor(ResidentialAddress, FieldDistrict), district); ok {
			a.District = v
		} else {
			c.add(FieldDistrict, CodeUnknownOption)
		}
	}
	if region != "" {
		if v, ok := matchChoice(regions, region); ok {
			a.Region = v
		} else {
			c.add(FieldRegion, CodeUnknownOption)
		}
	}
	// Whether the codes were known matters below, not their values.
	hasDistrict, hasRegion := district != "", region != ""

	structured := a.Structured() || hasDistrict || hasRegion
	switch {
	case structured && a.FreeText != "":
		c.add("", CodeAddressMixed)
	case a.FreeText != "":
	case !structured:
		c.add("", CodeRequired)
	default:
		switch {
		case a.StreetNumber != "" && a.Street == "":
			c.add(FieldStreet, CodeStreetMissing)
		case a.Building == "" && (a.Street == "" || a.StreetNumber == ""):
			// A building, or a street with its number, finds the door.
			c.add("", CodeAddressIncomplete)
		}
		if !hasDistrict {
			c.add(FieldDistrict, CodeRequired)
		}
	}
	if a.District != "" {
		want, _ := DistrictRegion(a.District)
		switch {
		case a.Region == "" && !hasRegion:
			a.Region = want // derived: the district decides the region
		case a.Region != "" && a.Region != want:
			c.add(FieldRegion, CodeRegionMismatch)
		}
	}
	return a
}

// checkFreeText normalises a free-text address into non-empty lines joined
// by "\n", each line's white space collapsed.
func checkFreeText(c *collector, s string) string {
	ls := lines(s)
	out := strings.Join(ls, "\n")
	switch {
	case out == "":
	case !cleanText(strings.Join(ls, " ")):
		c.add(FieldFreeText, CodeInvalidCharacters)
	case len(ls) > maxFreeTextLines:
		c.add(FieldFreeText, CodeTooManyLines, "max", strconv.Itoa(maxFreeTextLines))
	case utf8.RuneCountInString(out) > maxFreeText:
		c.add(FieldFreeText, CodeTooLong, "max", strconv.Itoa(maxFreeText))
	}
	return out
}

// hasPrefixFold reports whether s begins with one of the words ws (a word
// followed by a space, a dot or the end), in any letter case.
func hasPrefixFold(s string, ws ...string) bool {
	for _, w := range ws {
		if len(s) >= len(w) && strings.EqualFold(s[:len(w)], w) &&
			(len(s) == len(w) || s[len(w)] == ' ' || s[len(w)] == '.') {
			return true
		}
	}
	return false
}

func hasSuffixAny(s string, sufs ...string) bool {
	for _, suf := range sufs {
		if strings.HasSuffix(strings.ToUpper(s), suf) {
			return true
		}
	}
	return false
}

// The parts of an address line, decorated for each language: the flat,
// floor and block fields hold the identifier alone ("A", "12", "3"), and
// the display adds "Flat A", "12/F", "Block 3" or "A室", "12樓", "3座".
// Values that already carry a marker are shown as they are.

func flatPart(v string, zh bool) string {
	switch {
	case v == "":
		return ""
	case zh && !hasSuffixAny(v, "室", "號", "房"):
		return v + "室"
	case !zh && !hasPrefixFold(v, "flat", "room", "rm", "unit", "shop", "suite") && !hasSuffixAny(v, "室", "號", "房"):
		return "Flat " + v
	}
	return v
}

func floorPart(v string, zh bool) string {
	switch {
	case v == "":
		return ""
	case strings.EqualFold(v, "G"):
		if zh {
			return "地下"
		}
		return "G/F"
	case zh && !hasSuffixAny(v, "樓", "層", "/F"):
		return v + "樓"
	case !zh && !hasSuffixAny(v, "/F", "FLOOR", "樓", "層") && !hasPrefixFold(v, "floor"):
		return v + "/F"
	}
	return v
}

func blockPart(v string, zh bool) string {
	switch {
	case v == "":
		return ""
	case zh && !hasSuffixAny(v, "座", "期", "樓"):
		return v + "座"
	case !zh && !hasPrefixFold(v, "block", "blk", "tower", "house", "phase") && !hasSuffixAny(v, "座", "期"):
		return "Block " + v
	}
	return v
}

func streetPart(a Address, zh bool) string {
	switch {
	case a.Street == "":
		return ""
	case a.StreetNumber == "":
		return a.Street
	case zh && hasSuffixAny(a.StreetNumber, "號"):
		return joinZH(a.Street, a.StreetNumber)
	case zh:
		return joinZH(a.Street, a.StreetNumber+"號")
	}
	return a.StreetNumber + " " + a.Street
}

func districtName(code, lang string) string {
	return optionLabel(ResidentialAddress, FieldDistrict, code, lang)
}

func regionName(code, lang string) string {
	return optionLabel(ResidentialAddress, FieldRegion, code, lang)
}

// isHan reports whether r is a Chinese character or CJK punctuation, which
// Chinese writes without spaces between.
func isHan(r rune) bool {
	return unicode.Is(unicode.Han, r) || (r >= 0x3000 && r <= 0x303f) || (r >= 0xff00 && r <= 0xffef)
}

// joinZH joins parts in Chinese order: without separators, as Chinese
// writes ("皇后大道中123號", "陽光閣3座12樓A室"), except for a space between
// two parts that meet in another script ("Queen's Road Central 123號").
func joinZH(parts ...string) string {
	var b strings.Builder
	prev := rune(0)
	for _, p := range parts {
		if p == "" {
			continue
		}
		first, _ := utf8.DecodeRuneInString(p)
		if prev != 0 && !isHan(prev) && !isHan(first) {
			b.WriteByte(' ')
		}
		b.WriteString(p)
		prev, _ = utf8.DecodeLastRuneInString(p)
	}
	return b.String()
}

func nonEmpty(parts ...string) []string {
	out := parts[:0:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// streetLines returns the lines of a structured address below the
// district, in the language's order: in English from the flat outwards
// ("Flat A, 12/F, Block 3", "Sunshine Court", "Happy Estate", "123 Queen's
// Road Central"); in Chinese from the street inwards ("皇后大道中123號",
// "幸福邨", "陽光閣3座12樓A室"), as Hongkong Post's addressing guidance
// writes each.
func (a Address) streetLines(lang string) []string {
	if lang == TraditionalChinese {
		return nonEmpty(
			streetPart(a, true),
			a.Estate,
			joinZH(a.Building, blockPart(a.Block, true), floorPart(a.Floor, true), flatPart(a.Flat, true)),
		)
	}
	unit := strings.Join(nonEmpty(flatPart(a.Flat, false), floorPart(a.Floor, false), blockPart(a.Block, false)), ", ")
	return nonEmpty(unit, a.Building, a.Estate, streetPart(a, false))
}

// areaLines returns the district and region names, in the language's
// order: "Wan Chai", "Hong Kong Island"; "香港島", "灣仔區".
func (a Address) areaLines(lang string) []string {
	d, r := districtName(a.District, lang), regionName(a.Region, lang)
	if lang == TraditionalChinese {
		return nonEmpty(r, d)
	}
	return nonEmpty(d, r)
}

// formattedLines returns every line of the address, as on an envelope.
func (a Address) formattedLines(lang string) []string {
	if a.FreeText != "" {
		return lines(a.FreeText)
	}
	if lang == TraditionalChinese {
		return append(a.areaLines(lang), a.streetLines(lang)...)
	}
	return append(a.streetLines(lang), a.areaLines(lang)...)
}

// display is the address on one line: English parts joined by ", ", Chinese
// ones run together from the largest to the smallest; the lines of a
// free-text address joined by ", ", or "，" between Chinese lines.
func (a Address) display(lang string) string {
	ls := a.formattedLines(lang)
	if a.FreeText != "" {
		return joinLines(ls)
	}
	if lang == TraditionalChinese {
		return joinZH(ls...)
	}
	return strings.Join(ls, ", ")
}

// preview is what the consent page shows of an address: the building (or,
// without one, the street name without its number) and the district;
// never the flat, floor, block or street number. A free-text address shows
// its last part (after the last line break or comma, usually the city or
// country), or, when it has only one part, its first four characters.
func (a Address) preview(lang string) string {
	if a.FreeText != "" {
		parts := strings.FieldsFunc(a.FreeText, func(r rune) bool { return r == '\n' || r == ',' || r == '，' })
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		parts = nonEmpty(parts...)
		if len(parts) > 1 {
			return "…, " + parts[len(parts)-1]
		}
		if len(parts) == 1 {
			rs := []rune(parts[0])
			if len(rs) > 4 {
				rs = rs[:4]
			}
			return string(rs) + "…"
		}
		return ""
	}
	place := a.Building
	if place == "" {
		place = a.Street
	}
	d := districtName(a.District, lang)
	if lang == TraditionalChinese {
		return joinZH(d, place)
	}
	return strings.Join(nonEmpty(place, d), ", ")
}

// joinLines joins the lines of a free-text address into one: "，" where
// Chinese meets Chinese, ", " elsewhere.
func joinLines(ls []string) string {
	var b strings.Builder
	for i, l := range ls {
		if i > 0 {
			prev, _ := utf8.DecodeLastRuneInString(ls[i-1])
			first, _ := utf8.DecodeRuneInString(l)
			if isHan(prev) && isHan(first) {
				b.WriteString("，")
			} else {
				b.WriteString(", ")
			}
		}
		b.WriteString(l)
	}
	return b.String()
}
