package pdf

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

const (
	defaultContentsSize = 16384
	maxContentsSize     = 4 << 20
	// SubFilterCAdES is the PAdES baseline SubFilter (ETSI EN 319 142-1 §5.3).
	SubFilterCAdES = "ETSI.CAdES.detached"
)

// Appearance places a visible signature widget.
type Appearance struct {
	Page  int        // 1-based
	Rect  [4]float64 // llx, lly, urx, ury in default user space
	Lines []string   // text lines; default: signer, time, reason, location
}

// SignOptions describe the signature to prepare.
type SignOptions struct {
	FieldName                           string // default Signature<N>, unique in the form
	Name, Reason, Location, ContactInfo string
	SigningTime                         time.Time // /M; default now
	Visible                             *Appearance
	ContentsSize                        int // bytes reserved for the CMS; default 16384 (hex doubles it)
}

// Prepared is a signature incremental update waiting for its CMS: the
// ByteRange is fixed, so its digest is known before signing.
type Prepared struct {
	d         *Document
	update    []byte
	hexStart  int // index in update of '<' of /Contents
	hexEnd    int // index in update just after '>'
	byteRange [4]int64
	fieldName string
}

// ByteRange returns the /ByteRange of the prepared signature.
func (p *Prepared) ByteRange() [4]int64 { return p.byteRange }

// FieldName returns the signature field's name.
func (p *Prepared) FieldName() string { return p.fieldName }

// Size is the length of the signed document WriteTo produces.
func (p *Prepared) Size() int64 { return p.d.size + int64(len(p.update)) }

// Prepare builds the incremental update for one signature (ISO 32000-1
// §12.8; ETSI EN 319 142-1 §5.3: SubFilter ETSI.CAdES.detached, signing
// time in /M): the signature dictionary with a zero-filled /Contents, a
// merged signature field and widget on the page, the page with the widget
// in /Annots, the AcroForm with the field and /SigFlags 3, and the catalog
// when the AcroForm is new. It reads the document but does not change it.
func (d *Document) Prepare(opts SignOptions) (*Prepared, error) {
	if opts.ContentsSize == 0 {
		opts.ContentsSize = defaultContentsSize
	}
	if opts.ContentsSize < 256 || opts.ContentsSize > maxContentsSize {
		return nil, fmt.Errorf("%w: ContentsSize %d outside [256, %d]", ErrInvalidOptions, opts.ContentsSize, maxContentsSize)
	}
	if opts.SigningTime.IsZero() {
		opts.SigningTime = time.Now()
	}
	if strings.ContainsAny(opts.FieldName, ".") {
		return nil, fmt.Errorf("%w: field name %q contains '.'", ErrInvalidOptions, opts.FieldName)
	}
	pageNum := 1
	rect := array{int64(0), int64(0), int64(0), int64(0)}
	if v := opts.Visible; v != nil {
		pageNum = v.Page
		if !(v.Rect[2] > v.Rect[0] && v.Rect[3] > v.Rect[1]) {
			return nil, fmt.Errorf("%w: visible signature rectangle %v is empty", ErrInvalidOptions, v.Rect)
		}
		rect = array{v.Rect[0], v.Rect[1], v.Rect[2], v.Rect[3]}
	}

	rootRef, cat, err := d.catalog()
	if err != nil {
		return nil, err
	}
	afRef, af, err := d.acroForm(cat)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	if err := d.walkFields(af, func(f field) error { names[f.fullName] = true; return nil }); err != nil {
		return nil, err
	}
	fieldName := opts.FieldName
	if fieldName == "" {
		for i := 1; ; i++ {
			if fieldName = "Signature" + strconv.Itoa(i); !names[fieldName] {
				break
			}
		}
	} else if names[fieldName] {
		return nil, fmt.Errorf("%w: a form field named %q already exists", ErrInvalidOptions, fieldName)
	}
	pageRef, page, err := d.page(pageNum)
	if err != nil {
		return nil, err
	}
	annots, err := d.resolveArray(page["Annots"])
	if err != nil {
		return nil, fmt.Errorf("page /Annots: %w", err)
	}
	var fields array
	if af != nil {
		if fields, err = d.resolveArray(af["Fields"]); err != nil {
			return nil, fmt.Errorf("AcroForm /Fields: %w", err)
		}
	}

	u := d.newUpdate()
	sigRef, fieldRef, apRef := u.newRef(), u.newRef(), u.newRef()

	// The signature dictionary, written by hand to know where /ByteRange
	// and /Contents are.
	u.begin(sigRef)
	u.buf.WriteString("<</Type /Sig /Filter /Adobe.PPKLite /SubFilter /" + SubFilterCAdES + " /ByteRange ")
	brStart := u.buf.Len()
	u.buf.WriteString(byteRangePlaceholder)
	u.buf.WriteString(" /Contents ")
	hexStart := u.buf.Len()
	u.buf.WriteByte('<')
	u.buf.Write(bytes.Repeat([]byte{'0'}, 2*opts.ContentsSize))
	u.buf.WriteByte('>')
	hexEnd := u.buf.Len()
	rest := dict{"M": pdfString{b: []byte(formatDate(opts.SigningTime))}}
	for k, v := range map[name]string{"Name": opts.Name, "Reason": opts.Reason, "Location": opts.Location, "ContactInfo": opts.ContactInfo} {
		if v != "" {
			rest[k] = encodeTextString(v)
		}
	}
	var rb bytes.Buffer
	writeObject(&rb, rest)
	u.buf.WriteByte(' ')
	u.buf.Write(rb.Bytes()[2:]) // the remaining entries, and ">>"
	u.buf.WriteString("\nendobj\n")

	// ISO 32000-1 §12.7.4.5, §12.5.6.19: a signature field merged with its
	// widget. /F 132 = Print + Locked.
	u.writeObject(fieldRef, dict{
		"Type": name("Annot"), "Subtype": name("Widget"), "FT": name("Sig"),
		"T": encodeTextString(fieldName), "V": sigRef, "F": int64(132),
		"Rect": rect, "P": pageRef, "AP": dict{"N": apRef},
	})
	if opts.Visible != nil {
		lines := opts.Visible.Lines
		if len(lines) == 0 {
			lines = defaultLines(opts)
		}
		w, h := opts.Visible.Rect[2]-opts.Visible.Rect[0], opts.Visible.Rect[3]-opts.Visible.Rect[1]
		u.writeStream(apRef, appearanceDict(w, h), appearanceContent(w, h, lines))
	} else {
		u.writeStream(apRef, appearanceDict(0, 0), nil)
	}

	newPage := page.clone()
	newPage["Annots"] = append(append(array{}, annots...), fieldRef)
	u.writeObject(pageRef, newPage)

	newAF := dict{}
	if af != nil {
		newAF = af.clone()
	}
	newAF["Fields"] = append(append(array{}, fields...), fieldRef)
	flags, _ := newAF.int("SigFlags")
	newAF["SigFlags"] = flags | 3 // SignaturesExist | AppendOnly (§12.7.2)
	if afRef.num != 0 {
		u.writeObject(afRef, newAF)
	} else {
		afRef = u.newRef()
		u.writeObject(afRef, newAF)
		newCat := cat.clone()
		newCat["AcroForm"] = afRef
		u.writeObject(rootRef, newCat)
	}
	update := u.finish()

	end := d.size + int64(len(update))
	br := [4]int64{0, d.size + int64(hexStart), d.size + int64(hexEnd), end - d.size - int64(hexEnd)}
	brText := fmt.Sprintf("[%d %d %d %d", br[0], br[1], br[2], br[3])
	brText += strings.Repeat(" ", len(byteRangePlaceholder)-len(brText)-1) + "]"
	copy(update[brStart:], brText)
	return &Prepared{d: d, update: update, hexStart: hexStart, hexEnd: hexEnd, byteRange: br, fieldName: fieldName}, nil
}

// byteRangePlaceholder has room for four 20-digit numbers.
var byteRangePlaceholder = "[" + strings.Repeat(" ", 4*21) + "]"

// Digest hashes the bytes the signature covers: the original document and
// the update without /Contents (ISO 32000-1 §12.8.1), streaming the
// original.
func (p *Prepared) Digest(h crypto.Hash) ([]byte, error) {
	if !h.Available() {
		return nil, fmt.Errorf("%w: hash %v not available", ErrInvalidOptions, h)
	}
	hh := h.New()
	if _, err := io.Copy(hh, io.NewSectionReader(p.d.r, 0, p.d.size)); err != nil {
		return nil, fmt.Errorf("pdf: read document: %w", err)
	}
	hh.Write(p.update[:p.hexStart])
	hh.Write(p.update[p.hexEnd:])
	return hh.Sum(nil), nil
}

// WriteTo writes the original document and the update with cms (DER) in
// /Contents, hex-encoded and zero-padded.
func (p *Prepared) WriteTo(w io.Writer, cms []byte) (int64, error) {
	room := (p.hexEnd - p.hexStart - 2) / 2
	if len(cms) > room {
		return 0, fmt.Errorf("%w: %d bytes, %d reserved", ErrContentsTooLarge, len(cms), room)
	}
	if len(cms) == 0 {
		return 0, fmt.Errorf("%w: empty CMS", ErrInvalidOptions)
	}
	n, err := io.Copy(w, io.NewSectionReader(p.d.r, 0, p.d.size))
	if err != nil {
		return n, fmt.Errorf("pdf: copy document: %w", err)
	}
	contents := make([]byte, p.hexEnd-p.hexStart)
	contents[0], contents[len(contents)-1] = '<', '>'
	hex.Encode(contents[1:], cms)
	for i := 1 + 2*len(cms); i < len(contents)-1; i++ {
		contents[i] = '0'
	}
	for _, part := range [][]byte{p.update[:p.hexStart], contents, p.update[p.hexEnd:]} {
		m, err := w.Write(part)
		n += int64(m)
		if err != nil {
			return n, fmt.Errorf("pdf: write update: %w", err)
		}
	}
	return n, nil
}

// formatDate writes a PDF date (ISO 32000-1 §7.9.4): D:YYYYMMDDHHmmSS+HH'mm'.
func formatDate(t time.Time) string {
	_, off := t.Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("D:%s%c%02d'%02d'", t.Format("20060102150405"), sign, off/3600, off%3600/60)
}

// parseDate reads a PDF date, tolerating the usual variations (missing
// parts, Z, missing apostrophes).
func parseDate(s string) (time.Time, bool) {
	s = strings.TrimPrefix(s, "D:")
	if len(s) < 4 {
		return time.Time{}, false
	}
	digits := func(i, n, def int) int {
		if len(s) < i+n {
			return def
		}
		v, err := strconv.Atoi(s[i : i+n])
		if err != nil {
			return -1
		}
		return v
	}
	y, mo, dd, hh, mi, ss := digits(0, 4, 0), digits(4, 2, 1), digits(6, 2, 1), digits(8, 2, 0), digits(10, 2, 0), digits(12, 2, 0)
	if y < 0 || mo < 1 || mo > 12 || dd < 1 || dd > 31 || hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 60 {
		return time.Time{}, false
	}
	loc := time.UTC
	if len(s) > 14 {
		tz := strings.ReplaceAll(s[14:], "'", "")
		if tz[0] == '+' || tz[0] == '-' {
			oh, om := 0, 0
			if len(tz) >= 3 {
				oh, _ = strconv.Atoi(tz[1:3])
			}
			if len(tz) >= 5 {
				om, _ = strconv.Atoi(tz[3:5])
			}
			off := oh*3600 + om*60
			if tz[0] == '-' {
				off = -off
			}
			loc = time.FixedZone("", off)
		}
	}
	return time.Date(y, time.Month(mo), dd, hh, mi, ss, 0, loc), true
}
