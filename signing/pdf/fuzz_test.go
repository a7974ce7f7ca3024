package pdf

import (
	"bytes"
	"crypto"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzOpen feeds arbitrary bytes to Open, DSS, AppendDSS, Signatures and
// Prepare. Nothing may panic or hang; when the input is accepted and
// signed, the output must read back with one more signature, and a DSS that
// reads and is extended must read back with the new item added.
func FuzzOpen(f *testing.F) {
	f.Add(handDocument{objs: baseObjects()}.bytes(f))
	f.Add(handDocument{objs: baseObjects(), inObjStm: []int{1, 2, 3, 5}, xrefStream: true}.bytes(f))
	f.Add(hybridDocument(f))
	classic := fpdfDocument(f, 2, 0)
	f.Add(classic)
	f.Add(qpdfObjectStreams(f, classic))
	p, err := open(f, classic).Prepare(SignOptions{ContentsSize: 256, Name: "Seed"})
	if err != nil {
		f.Fatal(err)
	}
	var signed bytes.Buffer
	if _, err := p.WriteTo(&signed, fakeCMS); err != nil {
		f.Fatal(err)
	}
	f.Add(signed.Bytes())
	var withDSS bytes.Buffer
	if _, err := open(f, signed.Bytes()).AppendDSS(&withDSS, DSS{Certs: [][]byte{[]byte("cert")}, OCSPs: [][]byte{[]byte("ocsp")},
		VRI: map[string]VRIEntry{mustSignature(f, signed.Bytes()).VRIKey(): {CRLs: [][]byte{[]byte("crl")}, TU: time.Unix(1e9, 0)}}}); err != nil {
		f.Fatal(err)
	}
	f.Add(withDSS.Bytes())
	f.Add(handDocument{objs: dssSeedObjects(f), inObjStm: []int{1, 6}, xrefStream: true}.bytes(f))

	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Open(bytes.NewReader(b), int64(len(b)), Limits{MaxSize: 1 << 20, MaxObjects: 10000})
		if err != nil {
			return
		}
		_, _ = d.PageCount()
		checkDSSExtends(t, d)
		before, errSigs := d.Signatures()
		for _, s := range before {
			_, _ = s.Digest(bytes.NewReader(b), crypto.SHA256)
		}
		p, err := d.Prepare(SignOptions{ContentsSize: 256, SigningTime: time.Unix(1e9, 0),
			Visible: &Appearance{Page: 1, Rect: [4]float64{0, 0, 100, 50}}})
		if err != nil {
			return
		}
		if _, err := p.Digest(crypto.SHA256); err != nil {
			t.Fatalf("Digest after Prepare: %v", err)
		}
		var out bytes.Buffer
		if _, err := p.WriteTo(&out, fakeCMS); err != nil {
			t.Fatalf("WriteTo after Prepare: %v", err)
		}
		d2, err := Open(bytes.NewReader(out.Bytes()), int64(out.Len()), Limits{MaxSize: 2 << 20, MaxObjects: 20000})
		if err != nil {
			t.Fatalf("the signed output does not open: %v", err)
		}
		after, err := d2.Signatures()
		if errSigs == nil && (err != nil || len(after) != len(before)+1) {
			t.Fatalf("signatures before %d, after %d (%v)", len(before), len(after), err)
		}
	})
}

func mustSignature(t testing.TB, b []byte) Signature {
	t.Helper()
	sigs, err := open(t, b).Signatures()
	if err != nil || len(sigs) == 0 {
		t.Fatalf("Signatures: %v (%d)", err, len(sigs))
	}
	return sigs[0]
}

// dssSeedObjects is a catalog with a DSS in an object stream and a
// compressed certificate.
func dssSeedObjects(t testing.TB) map[int]string {
	objs := baseObjects()
	objs[1] = "<< /Type /Catalog /Pages 2 0 R /DSS 6 0 R >>"
	objs[6] = "<< /Certs [7 0 R] /VRI << /" + strings.Repeat("0A", 20) + " << /Cert [7 0 R] /TU (D:20260101000000Z) >> >> >>"
	data := flate(t, []byte("a certificate"))
	objs[7] = fmt.Sprintf("<< /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream", len(data), data)
	return objs
}

// checkDSSExtends reads the DSS and, when it reads and can be extended,
// checks that the extension reads back with every old item and the new one.
func checkDSSExtends(t *testing.T, d *Document) {
	before, err := d.DSS()
	if err != nil {
		return
	}
	added := []byte("fuzz certificate")
	var out bytes.Buffer
	if _, err := d.AppendDSS(&out, DSS{Certs: [][]byte{added}}); err != nil {
		return
	}
	d2, err := Open(bytes.NewReader(out.Bytes()), int64(out.Len()), Limits{MaxSize: 2 << 20, MaxObjects: 20000})
	if err != nil {
		t.Fatalf("the extended DSS does not open: %v", err)
	}
	after, err := d2.DSS()
	if err != nil {
		t.Fatalf("the extended DSS does not read: %v", err)
	}
	want := before.Certs
	if !slices.ContainsFunc(want, func(c []byte) bool { return bytes.Equal(c, added) }) {
		want = append(slices.Clone(want), added)
	}
	if !reflect.DeepEqual(after.Certs, want) || !reflect.DeepEqual(after.OCSPs, before.OCSPs) ||
		!reflect.DeepEqual(after.CRLs, before.CRLs) || len(after.VRI) != len(before.VRI) {
		t.Fatalf("DSS before %+v, after adding a certificate %+v", before, after)
	}
}
