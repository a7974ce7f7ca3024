package admin_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"eidp/idp/client"
)

// The API's documentation lists every metadata name the API accepts, so
// that a field added to client.Client cannot go undocumented.
func TestOpenAPIDocumentsEveryClientMetadataName(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The property names of the ClientMetadata schema: the keys indented by
	// eight spaces under its "properties:", up to the next schema.
	documented := map[string]bool{}
	in, props := false, false
	for _, line := range strings.Split(string(doc), "\n") {
		switch {
		case line == "    ClientMetadata:":
			in = true
		case in && strings.HasPrefix(line, "    ") && !strings.HasPrefix(line, "     "):
			in, props = false, false
		case in && strings.HasPrefix(line, "      ") && !strings.HasPrefix(line, "       "):
			props = line == "      properties:"
		case props && strings.HasPrefix(line, "        ") && !strings.HasPrefix(line, "         "):
			key, _, _ := strings.Cut(strings.TrimSpace(line), ":")
			documented[strings.Trim(key, `"`)] = true
		}
	}
	if len(documented) == 0 {
		t.Fatal("no ClientMetadata schema in docs/api/openapi.yaml")
	}
	typ := reflect.TypeFor[client.Client]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if name == "-" || name == "" {
			continue
		}
		if !documented[name] {
			t.Errorf("docs/api/openapi.yaml: ClientMetadata lacks %q", name)
		}
		delete(documented, name)
	}
	for name := range documented {
		t.Errorf("docs/api/openapi.yaml: ClientMetadata documents %q, which client.Client does not have", name)
	}
}
