// Command gen writes idp/proofing/demo_register.json, the synthetic civil
// register behind proofing.DemoRegister. Run it with go generate in
// idp/proofing; its output is committed, and a test here fails when the
// committed file is not exactly what this program writes.
//
// Everything is synthetic: the names are drawn from common Hong Kong
// surnames and Cantonese given-name syllables, the ID numbers are random
// with a correct check digit. A fixed seed and a self-contained generator
// (splitmix64, not math/rand, whose streams may change between Go releases)
// keep the output the same on every machine and every Go version.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"time"
)

// person is one entry of the fixture; proofing.demoPerson reads it.
type person struct {
	IDNumber   string `json:"id_number"`
	Surname    string `json:"surname"`
	GivenNames string `json:"given_names"`
	NameZH     string `json:"name_zh"`
	BirthDate  string `json:"birth_date"`
	Gender     string `json:"gender"`
	CardValid  bool   `json:"card_valid"`
}

type fixture struct {
	Comment string   `json:"comment"`
	People  []person `json:"people"`
}

// fixed are the people that tests and documentation rely on (listed in
// idp/proofing/doc.go). Their ID numbers are given without the check digit,
// which is computed like every other.
var fixed = []person{
	// The "Chan Tai Man" of Hong Kong forms, on the number that most
	// descriptions of the check digit use as their example.
	{IDNumber: "A123456", Surname: "CHAN", GivenNames: "Tai Man", NameZH: "陳大文", BirthDate: "1985-04-12", Gender: "M", CardValid: true},
	// A cancelled card: the register knows her, proofing must still fail.
	{IDNumber: "K618025", Surname: "LEE", GivenNames: "Mei Ling", NameZH: "李美玲", BirthDate: "1972-09-30", Gender: "F", CardValid: false},
	// No Chinese name.
	{IDNumber: "R207716", Surname: "FERNANDES", GivenNames: "Maria Clara", NameZH: "", BirthDate: "1990-02-28", Gender: "F", CardValid: true},
	// A two-letter prefix.
	{IDNumber: "AB987654", Surname: "WONG", GivenNames: "Ka Ho", NameZH: "黃家豪", BirthDate: "1962-11-03", Gender: "M", CardValid: true},
	// A check digit A.
	{IDNumber: "G123456", Surname: "HO", GivenNames: "Wing Sze", NameZH: "何詠詩", BirthDate: "2001-07-19", Gender: "F", CardValid: true},
	// Gender X, a Western given name before the Cantonese ones.
	{IDNumber: "Y305517", Surname: "CHEUNG", GivenNames: "Alex Chi Ho", NameZH: "張志豪", BirthDate: "1999-12-31", Gender: "X", CardValid: true},
}

// generated is how many people follow the fixed ones.
const generated = 240

const seed = 20240612

type syllable struct{ en, zh string }

// surnames: the commonest Hong Kong surnames in their usual Cantonese
// romanisation; the first ten are drawn three times as often.
var surnames = []syllable{
	{"CHAN", "陳"}, {"WONG", "黃"}, {"LEE", "李"}, {"CHEUNG", "張"}, {"LAU", "劉"},
	{"HO", "何"}, {"NG", "吳"}, {"LEUNG", "梁"}, {"LAM", "林"}, {"TSANG", "曾"},
	{"CHOW", "周"}, {"YEUNG", "楊"}, {"TSE", "謝"}, {"CHU", "朱"}, {"LI", "李"},
	{"KWOK", "郭"}, {"LO", "羅"}, {"MAK", "麥"}, {"CHENG", "鄭"}, {"FUNG", "馮"},
	{"YIP", "葉"}, {"TANG", "鄧"}, {"SIU", "蕭"}, {"CHOI", "蔡"}, {"POON", "潘"},
	{"TAM", "譚"}, {"KWAN", "關"}, {"LAI", "黎"}, {"SO", "蘇"}, {"TO", "杜"},
	{"CHIU", "趙"}, {"AU", "區"}, {"YU", "余"}, {"KONG", "江"}, {"MA", "馬"},
	{"LUK", "陸"}, {"WAN", "溫"}, {"SHUM", "岑"}, {"KO", "高"}, {"HUI", "許"},
}

var maleSyllables = []syllable{
	{"Tai", "大"}, {"Man", "文"}, {"Ming", "明"}, {"Ka", "家"}, {"Ho", "豪"},
	{"Chi", "志"}, {"Kin", "堅"}, {"Wai", "偉"}, {"Kit", "傑"}, {"Chun", "俊"},
	{"Hung", "雄"}, {"Fai", "輝"}, {"Kwok", "國"}, {"Wah", "華"}, {"Shing", "成"},
	{"Keung", "強"}, {"Lok", "樂"}, {"Hin", "軒"}, {"Yiu", "耀"}, {"Tak", "德"},
	{"Kwong", "光"}, {"Hon", "漢"}, {"Cheuk", "卓"}, {"Sun", "新"}, {"Yin", "賢"},
	{"Pak", "柏"}, {"Long", "朗"}, {"Tsz", "梓"}, {"Hei", "熙"}, {"Chung", "聰"},
}

var femaleSyllables = []syllable{
	{"Mei", "美"}, {"Ling", "玲"}, {"Wing", "詠"}, {"Sze", "詩"}, {"Yan", "欣"},
	{"Yee", "儀"}, {"Wai", "慧"}, {"Kwan", "君"}, {"Yuk", "玉"}, {"Fung", "鳳"},
	{"Lai", "麗"}, {"Ching", "晶"}, {"Man", "敏"}, {"Hoi", "凱"}, {"Suet", "雪"},
	{"Ying", "瑩"}, {"Oi", "愛"}, {"Pui", "佩"}, {"Shan", "珊"}, {"Lam", "琳"},
	{"Yau", "柔"}, {"Sum", "心"}, {"Tung", "彤"}, {"Hei", "曦"}, {"Ka", "嘉"},
	{"Nga", "雅"}, {"Hiu", "曉"}, {"Po", "寶"}, {"Siu", "小"}, {"Ting", "婷"},
}

var (
	westernMale   = []string{"Peter", "John", "David", "Michael", "Eric", "Kelvin", "Raymond", "Jason", "Alan", "Kenneth"}
	westernFemale = []string{"Mary", "Karen", "Joyce", "Winnie", "Cindy", "Vivian", "Queenie", "Gloria", "Agnes", "Irene"}
	westernAny    = []string{"Alex", "Sam", "Jamie", "Chris"}
)

// Residents without a Chinese name: South and South-East Asian and
// European families long settled in Hong Kong.
var (
	otherSurnames = []string{"SINGH", "KHAN", "SANTOS", "REYES", "GURUNG", "SHARMA", "SMITH", "JONES", "FERNANDES", "ALI", "RAI", "MENDOZA"}
	otherMale     = []string{"Harpreet Singh", "Imran", "Jose Miguel", "Arjun", "Thomas", "Rahul", "Daniel James", "Bikash", "Carlos"}
	otherFemale   = []string{"Ayesha", "Maria Luisa", "Priya", "Sarah Jane", "Anjali", "Rosa", "Emily", "Sunita", "Ana Marie"}
)

var (
	singlePrefixes = []string{"A", "B", "C", "D", "E", "G", "H", "K", "M", "P", "R", "S", "V", "Y", "Z"}
	doublePrefixes = []string{"XA", "XB", "XC", "XD", "XE", "XG", "WX"}
)

// rng is splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom
// number generators", OOPSLA 2014; constants as in Vigna's reference
// implementation at https://prng.di.unimi.it/splitmix64.c).
type rng struct{ state uint64 }

func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n); the modulo bias is irrelevant here.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// chance reports true with probability percent/100.
func (r *rng) chance(percent int) bool { return r.intn(100) < percent }

func pick[T any](r *rng, xs []T) T { return xs[r.intn(len(xs))] }

func main() {
	out := flag.String("o", "demo_register.json", "file to write")
	flag.Parse()
	data, err := generate()
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		log.Fatal(err)
	}
}

// generate returns the fixture file's bytes.
func generate() ([]byte, error) {
	r := &rng{state: seed}
	seen := map[string]bool{}
	var people []person
	for _, p := range fixed {
		p.IDNumber += string(checkDigit(p.IDNumber))
		if seen[p.IDNumber] {
			return nil, fmt.Errorf("fixed person %s %s: duplicate ID number", p.Surname, p.GivenNames)
		}
		seen[p.IDNumber] = true
		people = append(people, p)
	}
	for i := 0; i < generated; i++ {
		p := randomPerson(r)
		for seen[p.IDNumber] {
			p.IDNumber = randomIDNumber(r)
		}
		seen[p.IDNumber] = true
		// Ten cancelled cards in all: the fixed one and every 26th here.
		p.CardValid = i%26 != 13
		people = append(people, p)
	}
	return encode(fixture{
		Comment: "Synthetic civil register for development and tests; no real person. Generated by idp/proofing/internal/gen (go generate ./idp/proofing); do not edit by hand.",
		People:  people,
	})
}

func randomPerson(r *rng) person {
	p := person{IDNumber: randomIDNumber(r), BirthDate: randomBirthDate(r)}
	switch {
	case r.chance(2):
		p.Gender = "X"
	case r.chance(50):
		p.Gender = "M"
	default:
		p.Gender = "F"
	}
	if r.chance(8) {
		p.Surname = pick(r, otherSurnames)
		if p.Gender == "M" || (p.Gender == "X" && r.chance(50)) {
			p.GivenNames = pick(r, otherMale)
		} else {
			p.GivenNames = pick(r, otherFemale)
		}
		return p
	}

	// Chinese-heritage names: surname, one or two Cantonese syllables,
	// sometimes a Western name in front as many cards show it.
	var sur syllable
	if r.chance(60) {
		sur = surnames[r.intn(10)]
	} else {
		sur = pick(r, surnames)
	}
	syllables := maleSyllables
	western := westernMale
	switch p.Gender {
	case "F":
		syllables, western = femaleSyllables, westernFemale
	case "X":
		western = westernAny
		if r.chance(50) {
			syllables = femaleSyllables
		}
	}
	n := 2
	if r.chance(15) {
		n = 1
	}
	given, zh := "", sur.zh
	for j := 0; j < n; j++ {
		s := pick(r, syllables)
		if j > 0 {
			given += " "
		}
		given += s.en
		zh += s.zh
	}
	if r.chance(15) {
		given = pick(r, western) + " " + given
	}
	p.Surname, p.GivenNames = sur.en, given
	if r.chance(55) {
		p.NameZH = zh
	}
	return p
}

func randomIDNumber(r *rng) string {
	prefix := pick(r, singlePrefixes)
	if r.chance(12) {
		prefix = pick(r, doublePrefixes)
	}
	body := fmt.Sprintf("%s%06d", prefix, r.intn(1_000_000))
	return body + string(checkDigit(body))
}

// randomBirthDate returns a date from 1930-01-01 to 2008-12-31.
func randomBirthDate(r *rng) string {
	first := time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC)
	last := time.Date(2008, 12, 31, 0, 0, 0, 0, time.UTC)
	days := int(last.Sub(first).Hours()/24) + 1
	return first.AddDate(0, 0, r.intn(days)).Format(time.DateOnly)
}

// checkDigit computes the HKID check digit of body (prefix letters and six
// digits), written independently of proofing.NormalizeIDNumber so that the
// fixture test checks one against the other. Weighted sum with weights
// 9…2, a single letter preceded by a space worth 36, A=10…Z=35; the check
// digit is 11 − sum mod 11, 10 written A and 11 written 0 (see
// proofing.checkDigit for sources).
func checkDigit(body string) byte {
	values := make([]int, 0, 8)
	if len(body) == 7 {
		values = append(values, 36)
	}
	for _, c := range body {
		if c >= 'A' && c <= 'Z' {
			values = append(values, int(c-'A')+10)
		} else {
			values = append(values, int(c-'0'))
		}
	}
	sum := 0
	for i, v := range values {
		sum += v * (9 - i)
	}
	return "0A987654321"[sum%11] // index: sum mod 11
}

// encode writes the fixture with one person per line, so that a change to
// the generator shows in a diff person by person.
func encode(f fixture) ([]byte, error) {
	var b bytes.Buffer
	comment, err := json.Marshal(f.Comment)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&b, "{\n  \"comment\": %s,\n  \"people\": [\n", comment)
	for i, p := range f.People {
		var line bytes.Buffer
		enc := json.NewEncoder(&line)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(p); err != nil {
			return nil, err
		}
		sep := ","
		if i == len(f.People)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %s%s\n", bytes.TrimSuffix(line.Bytes(), []byte("\n")), sep)
	}
	b.WriteString("  ]\n}\n")
	return b.Bytes(), nil
}
