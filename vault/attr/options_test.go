package attr_test

import (
	"encoding/json"
	"testing"

	"eidp/vault/attr"
)

func TestDistrictsAndRegions(t *testing.T) {
	districts := attr.Options(attr.ResidentialAddress, "district", "en")
	if len(districts) != 18 {
		t.Fatalf("%d districts, want the 18 of Cap. 547", len(districts))
	}
	regions := attr.Options(attr.ResidentialAddress, "region", "en")
	if len(regions) != 3 {
		t.Fatalf("%d regions, want 3", len(regions))
	}
	zh := attr.Options(attr.CorrespondenceAddress, "district", "zh-Hant")
	perRegion := map[string]int{}
	for i, d := range districts {
		r, ok := attr.DistrictRegion(d.Value)
		if !ok {
			t.Fatalf("district %s has no region", d.Value)
		}
		perRegion[r]++
		if zh[i].Value != d.Value || zh[i].Label == d.Label || !hasHan(zh[i].Label) {
			t.Errorf("district %s: labels %q / %q", d.Value, d.Label, zh[i].Label)
		}
		// Every district validates, alone and with its own region.
		raw, _ := json.Marshal(map[string]string{"building": "X", "district": d.Value, "region": r})
		if _, err := attr.Validate(attr.ResidentialAddress, raw); err != nil {
			t.Errorf("district %s in %s: %v", d.Value, r, err)
		}
	}
	if perRegion["hk-island"] != 4 || perRegion["kowloon"] != 5 || perRegion["new-territories"] != 9 {
		t.Errorf("districts per region %v, want hk-island 4, kowloon 5, new-territories 9", perRegion)
	}
	for _, want := range []struct{ code, en, zh, region string }{
		{"central-western", "Central and Western", "中西區", "hk-island"},
		{"yau-tsim-mong", "Yau Tsim Mong", "油尖旺區", "kowloon"},
		{"sham-shui-po", "Sham Shui Po", "深水埗區", "kowloon"},
		{"kwai-tsing", "Kwai Tsing", "葵青區", "new-territories"},
		{"islands", "Islands", "離島區", "new-territories"},
	} {
		found := false
		for i, d := range districts {
			if d.Value == want.code {
				found = true
				if d.Label != want.en || zh[i].Label != want.zh {
					t.Errorf("%s: %q / %q, want %q / %q", want.code, d.Label, zh[i].Label, want.en, want.zh)
				}
			}
		}
		if r, _ := attr.DistrictRegion(want.code); !found || r != want.region {
			t.Errorf("%s: found %v, region %q", want.code, found, r)
		}
	}
	if _, ok := attr.DistrictRegion("mong-kok"); ok {
		t.Error("mong-kok is an area, not a district")
	}
}

func TestEveryOptionValidatesAndIsLabelledInBothLanguages(t *testing.T) {
	enums := []struct {
		name  attr.Name
		field string
		min   int
	}{
		{attr.PreferredLanguage, "", 2},
		{attr.EducationLevel, "", 5},
		{attr.MaritalStatus, "", 5},
		{attr.EmergencyContact, "relationship", 5},
	}
	for _, e := range enums {
		en, zh := attr.Options(e.name, e.field, "en"), attr.Options(e.name, e.field, "zh-Hant")
		if len(en) < e.min || len(en) != len(zh) {
			t.Fatalf("%s.%s: %d / %d options", e.name, e.field, len(en), len(zh))
		}
		seen := map[string]bool{}
		for i, o := range en {
			if seen[o.Value] {
				t.Errorf("%s: option %s twice", e.name, o.Value)
			}
			seen[o.Value] = true
			if o.Label == "" || o.Label == zh[i].Label || !hasHan(zh[i].Label) {
				t.Errorf("%s %s: labels %q / %q", e.name, o.Value, o.Label, zh[i].Label)
			}
			var raw json.RawMessage
			if e.field == "" {
				raw = str(o.Value)
			} else {
				raw, _ = json.Marshal(map[string]string{"name": "Chan", "relationship": o.Value, "phone": "91234567"})
			}
			got, err := attr.Validate(e.name, raw)
			if err != nil {
				t.Errorf("option %s of %s does not validate: %v", o.Value, e.name, err)
				continue
			}
			if e.field == "" && attr.Display(e.name, got, "zh-Hant") != zh[i].Label {
				t.Errorf("Display of %s is not its label", o.Value)
			}
		}
	}
	for _, none := range []struct {
		name  attr.Name
		field string
	}{{attr.Occupation, ""}, {attr.MobilePhone, ""}, {attr.ResidentialAddress, "building"}, {attr.EmergencyContact, "name"}, {attr.PreferredLanguage, "district"}} {
		if got := attr.Options(none.name, none.field, "en"); got != nil {
			t.Errorf("Options(%s, %q) = %v, want none", none.name, none.field, got)
		}
	}
}
