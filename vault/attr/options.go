package attr

// Option is one choice of an enumerated field: the Value stored and its
// Label in the language asked for.
type Option struct {
	Value string
	Label string
}

// choice is an option in both languages.
type choice struct {
	value string
	label text
}

// Regions of Hong Kong, the three traditional areas into which the 18
// districts fall.
const (
	RegionHKIsland       = "hk-island"
	RegionKowloon        = "kowloon"
	RegionNewTerritories = "new-territories"
)

var regions = []choice{
	{RegionHKIsland, text{"Hong Kong Island", "香港島"}},
	{RegionKowloon, text{"Kowloon", "九龍"}},
	{RegionNewTerritories, text{"New Territories", "新界"}},
}

// district is one of the 18 districts of the District Councils Ordinance
// (Cap. 547, Schedule 1), with the region it lies in.
type district struct {
	choice
	region string
}

// districts in the order the Government lists them: Hong Kong Island,
// Kowloon, New Territories.
var districts = []district{
	{choice{"central-western", text{"Central and Western", "中西區"}}, RegionHKIsland},
	{choice{"wan-chai", text{"Wan Chai", "灣仔區"}}, RegionHKIsland},
	{choice{"eastern", text{"Eastern", "東區"}}, RegionHKIsland},
	{choice{"southern", text{"Southern", "南區"}}, RegionHKIsland},
	{choice{"yau-tsim-mong", text{"Yau Tsim Mong", "油尖旺區"}}, RegionKowloon},
	{choice{"sham-shui-po", text{"Sham Shui Po", "深水埗區"}}, RegionKowloon},
	{choice{"kowloon-city", text{"Kowloon City", "九龍城區"}}, RegionKowloon},
	{choice{"wong-tai-sin", text{"Wong Tai Sin", "黃大仙區"}}, RegionKowloon},
	{choice{"kwun-tong", text{"Kwun Tong", "觀塘區"}}, RegionKowloon},
	{choice{"kwai-tsing", text{"Kwai Tsing", "葵青區"}}, RegionNewTerritories},
	{choice{"tsuen-wan", text{"Tsuen Wan", "荃灣區"}}, RegionNewTerritories},
	{choice{"tuen-mun", text{"Tuen Mun", "屯門區"}}, RegionNewTerritories},
	{choice{"yuen-long", text{"Yuen Long", "元朗區"}}, RegionNewTerritories},
	{choice{"north", text{"North", "北區"}}, RegionNewTerritories},
	{choice{"tai-po", text{"Tai Po", "大埔區"}}, RegionNewTerritories},
	{choice{"sha-tin", text{"Sha Tin", "沙田區"}}, RegionNewTerritories},
	{choice{"sai-kung", text{"Sai Kung", "西貢區"}}, RegionNewTerritories},
	{choice{"islands", text{"Islands", "離島區"}}, RegionNewTerritories},
}

// DistrictRegion returns the region a district code lies in.
func DistrictRegion(code string) (string, bool) {
	for _, d := range districts {
		if d.value == code {
			return d.region, true
		}
	}
	return "", false
}

// Values of preferred_language (BCP 47 tags, the languages eidp serves).
var languages = []choice{
	{English, text{"English", "英文"}},
	{TraditionalChinese, text{"Traditional Chinese", "繁體中文"}},
}

// Values of education_level: the highest level attended, in the
// categories the Census and Statistics Department uses for educational
// attainment (population census tables), with post-secondary degree
// courses split into first degree and postgraduate.
var educationLevels = []choice{
	{"no_schooling", text{"No schooling / pre-primary", "未受教育／學前教育"}},
	{"primary", text{"Primary", "小學"}},
	{"lower_secondary", text{"Lower secondary (S1–S3)", "初中（中一至中三）"}},
	{"upper_secondary", text{"Upper secondary (S4–S6)", "高中（中四至中六）"}},
	{"post_secondary", text{"Post-secondary, non-degree (diploma, certificate, associate degree, higher diploma)", "專上教育：非學位（文憑、證書、副學士、高級文憑）"}},
	{"bachelor", text{"Bachelor's degree", "學士學位"}},
	{"postgraduate", text{"Postgraduate degree", "研究院學位"}},
}

// Values of marital_status: the census categories (never married, now
// married, separated, divorced, widowed), and civil_partnership for a
// partnership registered where that status exists; Hong Kong law has no
// such status of its own, so forms that know only the census five map it
// as they see fit.
var maritalStatuses = []choice{
	{"single", text{"Never married", "未婚"}},
	{"married", text{"Married", "已婚"}},
	{"separated", text{"Separated", "分居"}},
	{"divorced", text{"Divorced", "離婚"}},
	{"widowed", text{"Widowed", "喪偶"}},
	{"civil_partnership", text{"Civil partnership", "民事伴侶關係"}},
}

// Values of an emergency contact's relationship to the resident.
var relationships = []choice{
	{"spouse", text{"Spouse", "配偶"}},
	{"partner", text{"Partner", "伴侶"}},
	{"parent", text{"Parent", "父母"}},
	{"child", text{"Child", "子女"}},
	{"sibling", text{"Brother or sister", "兄弟姊妹"}},
	{"relative", text{"Other relative", "其他親屬"}},
	{"friend", text{"Friend", "朋友"}},
	{"carer", text{"Carer", "照顧者"}},
	{"other", text{"Other", "其他"}},
}

// choicesFor returns the choices of an enumerated field, or nil.
func choicesFor(name Name, field string) []choice {
	switch {
	case isAddress(name) && field == FieldDistrict:
		out := make([]choice, len(districts))
		for i, d := range districts {
			out[i] = d.choice
		}
		return out
	case isAddress(name) && field == FieldRegion:
		return regions
	case name == PreferredLanguage && field == "":
		return languages
	case name == EducationLevel && field == "":
		return educationLevels
	case name == MaritalStatus && field == "":
		return maritalStatuses
	case name == EmergencyContact && field == FieldRelationship:
		return relationships
	}
	return nil
}

// Options returns the choices of an enumerated field in display order,
// labelled in lang: an address's district (grouped by region, Hong Kong
// Island first) and region, the emergency contact's relationship, and for
// field "" the values of preferred_language, education_level and
// marital_status. Any other field has none (nil).
func Options(name Name, field, lang string) []Option {
	cs := choicesFor(name, field)
	if cs == nil {
		return nil
	}
	out := make([]Option, len(cs))
	for i, c := range cs {
		out[i] = Option{Value: c.value, Label: c.label.in(lang)}
	}
	return out
}

// optionLabel returns the label of value among the field's choices, or ""
// when it is not one.
func optionLabel(name Name, field, value, lang string) string {
	for _, c := range choicesFor(name, field) {
		if c.value == value {
			return c.label.in(lang)
		}
	}
	return ""
}
