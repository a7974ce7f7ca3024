package pdf

import (
	"cmp"
	"crypto"
	"crypto/sha1"
	"fmt"
	"io"
	"slices"
	"time"
)

// Signature is a signature field's value as found in the document.
type Signature struct {
	FieldName           string
	SubFilter           string
	ByteRange           [4]int64
	Contents            []byte    // the CMS (DER), trailing zero padding trimmed
	SigningTime         time.Time // /M; zero when absent or unreadable
	Name                string
	Reason              string
	Location            string
	CoversWholeDocument bool  // the ByteRange ends at the end of the file
	RevisionEnd         int64 // end of the signed revision: ByteRange[2]+ByteRange[3]

	rawContents []byte // /Contents with its padding, for the VRI key
}

// Signatures lists the signed signature fields, oldest revision first.
// Unsigned signature fields are left out.
func (d *Document) Signatures() ([]Signature, error) {
	_, cat, err := d.catalog()
	if err != nil {
		return nil, err
	}
	_, af, err := d.acroForm(cat)
	if err != nil {
		return nil, err
	}
	var sigs []Signature
	err = d.walkFields(af, func(f field) error {
		if f.ft != "Sig" {
			return nil
		}
		vo, err := d.resolve(f.dict["V"])
		if err != nil {
			return fmt.Errorf("signature field %q: %w", f.fullName, err)
		}
		v, ok := vo.(dict)
		if !ok {
			return nil // not signed yet
		}
		s, err := d.signature(f.fullName, v)
		if err != nil {
			return fmt.Errorf("signature field %q: %w", f.fullName, err)
		}
		sigs = append(sigs, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(sigs, func(a, b Signature) int { return cmp.Compare(a.RevisionEnd, b.RevisionEnd) })
	return sigs, nil
}

func (d *Document) signature(fieldName string, v dict) (Signature, error) {
	s := Signature{FieldName: fieldName}
	if sf, ok := v.name("SubFilter"); ok {
		s.SubFilter = string(sf)
	}
	bro, err := d.resolveArray(v["ByteRange"])
	if err != nil {
		return s, err
	}
	if len(bro) != 4 {
		return s, fmt.Errorf("%w: /ByteRange has %d numbers, want 4", ErrMalformed, len(bro))
	}
	for i, o := range bro {
		n, ok := o.(int64)
		if !ok || n < 0 {
			return s, fmt.Errorf("%w: /ByteRange %v", ErrMalformed, bro)
		}
		s.ByteRange[i] = n
	}
	br := s.ByteRange
	if br[0]+br[1] > br[2] || br[2]+br[3] > d.size || br[2]+br[3] < br[2] {
		return s, fmt.Errorf("%w: /ByteRange %v does not fit the %d-byte file", ErrMalformed, br, d.size)
	}
	s.RevisionEnd = br[2] + br[3]
	s.CoversWholeDocument = br[0] == 0 && s.RevisionEnd == d.size
	co, err := d.resolve(v["Contents"])
	if err != nil {
		return s, err
	}
	c, ok := co.(pdfString)
	if !ok {
		return s, fmt.Errorf("%w: /Contents is not a string", ErrMalformed)
	}
	s.rawContents = c.b
	s.Contents = trimDER(c.b)
	if m, ok := v["M"].(pdfString); ok {
		s.SigningTime, _ = parseDate(string(m.b))
	}
	for k, dst := range map[name]*string{"Name": &s.Name, "Reason": &s.Reason, "Location": &s.Location} {
		if t, ok := v[k].(pdfString); ok {
			*dst = textString(t.b)
		}
	}
	return s, nil
}

// trimDER cuts /Contents to the DER element it starts with (a CMS may end
// in zero bytes, so trimming zeros alone is not enough), or trims the zero
// padding when it is not a definite-length DER element.
func trimDER(b []byte) []byte {
	if n, ok := derLength(b); ok {
		return b[:n:n]
	}
	i := len(b)
	for i > 0 && b[i-1] == 0 {
		i--
	}
	return b[:i:i]
}

func derLength(b []byte) (int, bool) {
	if len(b) < 2 || b[0] != 0x30 {
		return 0, false
	}
	l := int(b[1])
	hdr := 2
	if l&0x80 != 0 {
		n := l & 0x7F
		if n == 0 || n > 4 || len(b) < 2+n {
			return 0, false
		}
		l = 0
		for _, c := range b[2 : 2+n] {
			l = l<<8 | int(c)
		}
		hdr += n
	}
	if hdr+l > len(b) {
		return 0, false
	}
	return hdr + l, true
}

// VRIKey is the key of this signature's entry in the DSS /VRI dictionary:
// the upper-case hex SHA-1 of the /Contents value (ETSI EN 319 142-1
// §5.4.2.2).
func (s Signature) VRIKey() string {
	sum := sha1.Sum(s.rawContents)
	return fmt.Sprintf("%X", sum[:])
}

// Digest hashes the two ByteRange pieces of the file r, streaming them.
func (s Signature) Digest(r io.ReaderAt, h crypto.Hash) ([]byte, error) {
	if !h.Available() {
		return nil, fmt.Errorf("%w: hash %v not available", ErrInvalidOptions, h)
	}
	hh := h.New()
	for _, part := range [][2]int64{{s.ByteRange[0], s.ByteRange[1]}, {s.ByteRange[2], s.ByteRange[3]}} {
		n, err := io.Copy(hh, io.NewSectionReader(r, part[0], part[1]))
		if err != nil {
			return nil, fmt.Errorf("pdf: read signed bytes: %w", err)
		}
		if n != part[1] {
			return nil, fmt.Errorf("%w: /ByteRange %v beyond the end of the file", ErrMalformed, s.ByteRange)
		}
	}
	return hh.Sum(nil), nil
}
