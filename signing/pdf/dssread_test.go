package pdf

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readDSS(t *testing.T, b []byte) DSS {
	t.Helper()
	dss, err := open(t, b).DSS()
	if err != nil {
		t.Fatalf("DSS: %v", err)
	}
	return dss
}

func items(s ...string) [][]byte {
	var out [][]byte
	for _, x := range s {
		out = append(out, []byte(x))
	}
	return out
}

func TestDSSReadsWhatAppendDSSWrote(t *testing.T) {
	for name, base := range map[string][]byte{
		"a classic xref table":    handDocument{objs: baseObjects()}.bytes(t),
		"an xref stream":          handDocument{objs: baseObjects(), inObjStm: []int{1, 2, 3, 5}, xrefStream: true}.bytes(t),
		"a hybrid-reference file": hybridDocument(t),
	} {
		t.Run(name, func(t *testing.T) {
			doc, _ := prepareAndWrite(t, base, SignOptions{ContentsSize: 512})
			if got := readDSS(t, doc); !reflect.DeepEqual(got, DSS{}) {
				t.Fatalf("a document without DSS gave %+v", got)
			}
			key := mustSignatures(t, doc)[0].VRIKey()

			var plain bytes.Buffer
			if _, err := open(t, doc).AppendDSS(&plain, DSS{Certs: items("cert A", "cert B"), OCSPs: items("ocsp A")}); err != nil {
				t.Fatal(err)
			}
			want := DSS{Certs: items("cert A", "cert B"), OCSPs: items("ocsp A")}
			if got := readDSS(t, plain.Bytes()); !reflect.DeepEqual(got, want) {
				t.Fatalf("after one update: %+v, want %+v", got, want)
			}

			tu := time.Date(2026, 3, 14, 9, 26, 53, 0, time.FixedZone("", 8*3600))
			var extended bytes.Buffer
			if _, err := open(t, plain.Bytes()).AppendDSS(&extended, DSS{
				Certs: items("cert A", "cert C"),
				CRLs:  items("crl A"),
				VRI:   map[string]VRIEntry{key: {Certs: items("cert A"), OCSPs: items("ocsp B"), CRLs: items("crl A"), TU: tu}},
			}); err != nil {
				t.Fatal(err)
			}
			var twice bytes.Buffer
			if _, err := open(t, extended.Bytes()).AppendDSS(&twice, DSS{OCSPs: items("ocsp C")}); err != nil {
				t.Fatal(err)
			}
			got := readDSS(t, twice.Bytes())
			want = DSS{
				Certs: items("cert A", "cert B", "cert C"),
				OCSPs: items("ocsp A", "ocsp B", "ocsp C"),
				CRLs:  items("crl A"),
				VRI:   map[string]VRIEntry{key: {Certs: items("cert A"), OCSPs: items("ocsp B"), CRLs: items("crl A"), TU: tu}},
			}
			if !reflect.DeepEqual(got.Certs, want.Certs) || !reflect.DeepEqual(got.OCSPs, want.OCSPs) || !reflect.DeepEqual(got.CRLs, want.CRLs) {
				t.Errorf("after three updates: %q %q %q, want %q %q %q", got.Certs, got.OCSPs, got.CRLs, want.Certs, want.OCSPs, want.CRLs)
			}
			e, ok := got.VRI[key]
			if len(got.VRI) != 1 || !ok || !e.TU.Equal(tu) ||
				!reflect.DeepEqual(e.Certs, items("cert A")) || !reflect.DeepEqual(e.OCSPs, items("ocsp B")) || !reflect.DeepEqual(e.CRLs, items("crl A")) {
				t.Errorf("VRI = %+v, want %q: %+v", got.VRI, key, want.VRI[key])
			}
		})
	}
}

// dssDocument is a hand-made PDF whose catalog has /DSS dss and extra
// objects from 6 on.
func dssDocument(t *testing.T, dss string, extra ...string) []byte {
	t.Helper()
	objs := baseObjects()
	objs[1] = "<< /Type /Catalog /Pages 2 0 R /DSS " + dss + " >>"
	for i, o := range extra {
		objs[6+i] = o
	}
	return handDocument{objs: objs}.bytes(t)
}

func streamObject(dict string, data []byte) string {
	return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
}

func TestDSSReadsOtherWriters(t *testing.T) {
	cert := []byte("\x30\x82 a DER certificate, say")
	key := strings.Repeat("ab", 20)
	doc := dssDocument(t, "6 0 R",
		"<< /Type /DSS /Certs [7 0 R] /OCSPs 9 0 R /VRI << /"+key+" 8 0 R /NotAHash << /Cert [7 0 R] >> >> >>",
		streamObject("/Filter /FlateDecode", flate(t, cert)),
		"<< /Cert [7 0 R] /TU (D:20260314092653Z) /TS 7 0 R >>",
		"[]",
	)
	got := readDSS(t, doc)
	want := DSS{Certs: [][]byte{cert}, VRI: map[string]VRIEntry{strings.ToUpper(key): {
		Certs: [][]byte{cert}, TU: time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DSS = %+v, want %+v", got, want)
	}

	for name, dss := range map[string]string{
		"a reference to a free object": "99 0 R",
		"null":                         "null",
	} {
		if got := readDSS(t, dssDocument(t, dss)); !reflect.DeepEqual(got, DSS{}) {
			t.Errorf("/DSS %s gave %+v, want no DSS", name, got)
		}
	}
}

func TestDSSRefusesMalformedStores(t *testing.T) {
	bomb := flate(t, make([]byte, maxDSSItemSize+1))
	for _, tc := range []struct {
		name string
		doc  []byte
		want error
	}{
		{"a DSS that is a number", dssDocument(t, "42"), ErrMalformed},
		{"a DSS that is an array", dssDocument(t, "6 0 R", "[7 0 R]", streamObject("", []byte("x"))), ErrMalformed},
		{"a DSS that is a stream", dssDocument(t, "6 0 R", streamObject("/Certs []", []byte("x"))), ErrMalformed},
		{"an item that is a dictionary", dssDocument(t, "<< /Certs [6 0 R] >>", "<< /Length 3 >>"), ErrMalformed},
		{"an item that is a direct string", dssDocument(t, "<< /OCSPs [(ocsp)] >>"), ErrMalformed},
		{"an item that is missing", dssDocument(t, "<< /CRLs [99 0 R] >>"), ErrMalformed},
		{"/Certs that is not an array", dssDocument(t, "<< /Certs 6 0 R >>", streamObject("", []byte("x"))), ErrMalformed},
		{"a /VRI that is an array", dssDocument(t, "<< /VRI [] >>"), ErrMalformed},
		{"a VRI entry that is a string", dssDocument(t, "<< /VRI << /"+strings.Repeat("AB", 20)+" (x) >> >>"), ErrMalformed},
		{"a VRI item that is a name", dssDocument(t, "<< /VRI << /"+strings.Repeat("AB", 20)+" << /OCSP [/X] >> >> >>"), ErrMalformed},
		{"an unknown filter", dssDocument(t, "<< /Certs [6 0 R] >>", streamObject("/Filter /LZWDecode", []byte("x"))), ErrMalformed},
		{"a stream length beyond the file", dssDocument(t, "<< /Certs [6 0 R] >>", "<< /Length 999999 >>\nstream\nx\nendstream"), ErrMalformed},
		{"an item decoding to more than the limit", dssDocument(t, "<< /Certs [6 0 R] >>", streamObject("/Filter /FlateDecode", bomb)), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := open(t, tc.doc)
			dss, err := d.DSS()
			if !errors.Is(err, tc.want) || !reflect.DeepEqual(dss, DSS{}) {
				t.Errorf("DSS() = %+v, %v; want %v and nothing", dss, err, tc.want)
			}
			if _, err := d.PageCount(); err != nil {
				t.Errorf("the document no longer reads after DSS(): %v", err)
			}
		})
	}
}
