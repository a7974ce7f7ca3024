package pdf

import (
	"fmt"
	"strings"
)

// maxDSSDecoded bounds the decoded bytes of all DSS items together, so
// that a small file of compressed streams cannot make DSS allocate
// without limit (each item is also bounded by maxDSSItemSize).
const maxDSSDecoded = 64 << 20

// DSS reads the catalog's Document Security Store (ISO 32000-2 §12.8.4.3;
// ETSI EN 319 142-1 §5.4.2): the decoded streams of /Certs, /OCSPs and
// /CRLs, and the /VRI entries with their /Cert, /OCSP and /CRL streams and
// /TU time. A document without a DSS gives the zero DSS and nil.
//
// Items are returned as found, without checking that they are DER
// certificates, OCSP responses or CRLs: that is the verifier's work. The
// arrays must hold references to streams (FlateDecode or unfiltered);
// anything else is ErrMalformed. VRI keys that are not hexadecimal SHA-1
// digests are skipped; the others are returned upper-case, as
// Signature.VRIKey gives them. VRI /TS (time-stamps of the VRI) is not
// read. The number of items and their decoded sizes are bounded
// (ErrTooLarge).
func (d *Document) DSS() (DSS, error) {
	_, cat, err := d.catalog()
	if err != nil {
		return DSS{}, err
	}
	o, err := d.resolve(cat["DSS"])
	if err != nil {
		return DSS{}, fmt.Errorf("DSS: %w", err)
	}
	if o == nil {
		return DSS{}, nil // absent, or a reference to a free object (ISO 32000-1 §7.3.10)
	}
	dd, ok := o.(dict)
	if !ok {
		return DSS{}, fmt.Errorf("%w: /DSS is a %s, not a dictionary", ErrMalformed, objectKind(o))
	}
	r := dssReader{d: d, seen: map[int][]byte{}}
	var out DSS
	for _, kind := range []struct {
		key  name
		dest *[][]byte
	}{{"Certs", &out.Certs}, {"OCSPs", &out.OCSPs}, {"CRLs", &out.CRLs}} {
		if *kind.dest, err = r.items(dd[kind.key]); err != nil {
			return DSS{}, fmt.Errorf("DSS /%s: %w", kind.key, err)
		}
	}
	vo, err := d.resolve(dd["VRI"])
	if err != nil {
		return DSS{}, fmt.Errorf("DSS /VRI: %w", err)
	}
	if vo == nil {
		return out, nil
	}
	vri, ok := vo.(dict)
	if !ok {
		return DSS{}, fmt.Errorf("%w: DSS /VRI is a %s, not a dictionary", ErrMalformed, objectKind(vo))
	}
	if len(vri) > maxDSSItems {
		return DSS{}, fmt.Errorf("%w: DSS /VRI has %d entries, limit %d", ErrTooLarge, len(vri), maxDSSItems)
	}
	for k, v := range vri {
		key := strings.ToUpper(string(k))
		if len(key) != 40 || strings.Trim(key, hexDigits) != "" {
			continue // not a signature's SHA-1: nothing can look it up
		}
		eo, err := d.resolve(v)
		if err != nil {
			return DSS{}, fmt.Errorf("DSS /VRI /%s: %w", key, err)
		}
		ed, ok := eo.(dict)
		if !ok {
			return DSS{}, fmt.Errorf("%w: DSS /VRI /%s is a %s, not a dictionary", ErrMalformed, key, objectKind(eo))
		}
		var e VRIEntry
		for _, kind := range []struct {
			key  name
			dest *[][]byte
		}{{"Cert", &e.Certs}, {"OCSP", &e.OCSPs}, {"CRL", &e.CRLs}} {
			if *kind.dest, err = r.items(ed[kind.key]); err != nil {
				return DSS{}, fmt.Errorf("DSS /VRI /%s /%s: %w", key, kind.key, err)
			}
		}
		if tu, ok := ed["TU"].(pdfString); ok {
			e.TU, _ = parseDate(string(tu.b)) // a date we cannot read is left zero: TU is informative
		}
		if out.VRI == nil {
			out.VRI = map[string]VRIEntry{}
		}
		out.VRI[key] = e
	}
	return out, nil
}

// dssReader decodes DSS streams, each object once, within the item and
// byte budgets shared by the whole DSS.
type dssReader struct {
	d       *Document
	seen    map[int][]byte // object number → decoded data
	count   int
	decoded int64
}

// items reads an array of stream references; a missing array is empty.
func (r *dssReader) items(o object) ([][]byte, error) {
	arr, err := r.d.resolveArray(o)
	if err != nil {
		return nil, err
	}
	r.count += len(arr)
	if r.count > maxDSSItems {
		return nil, fmt.Errorf("%w: more than %d DSS items", ErrTooLarge, maxDSSItems)
	}
	var out [][]byte
	for i, it := range arr {
		rf, ok := it.(ref)
		if !ok {
			return nil, fmt.Errorf("%w: item %d is a direct %s, not a stream reference", ErrMalformed, i, objectKind(it))
		}
		if data, ok := r.seen[rf.num]; ok {
			out = append(out, data)
			continue
		}
		so, err := r.d.fetch(rf)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		s, ok := so.(*stream)
		if !ok {
			return nil, fmt.Errorf("%w: item %d (object %d) is a %s, not a stream", ErrMalformed, i, rf.num, objectKind(so))
		}
		data, err := r.d.streamData(s, maxDSSItemSize)
		if err != nil {
			return nil, fmt.Errorf("item %d (object %d): %w", i, rf.num, err)
		}
		r.decoded += int64(len(data))
		if r.decoded > maxDSSDecoded {
			return nil, fmt.Errorf("%w: DSS items decode to more than %d bytes", ErrTooLarge, maxDSSDecoded)
		}
		r.seen[rf.num] = data
		out = append(out, data)
	}
	return out, nil
}

// objectKind names an object's type for error messages.
func objectKind(o object) string {
	switch o.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case int64, float64:
		return "number"
	case name:
		return "name"
	case pdfString:
		return "string"
	case array:
		return "array"
	case dict:
		return "dictionary"
	case ref:
		return "reference"
	case *stream:
		return "stream"
	}
	return fmt.Sprintf("%T", o)
}
