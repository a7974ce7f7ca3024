package pdf

import (
	"fmt"
)

const (
	maxTreeDepth = 64     // pages tree and field tree levels
	maxFields    = 100000 // form fields visited
)

func (d *Document) catalog() (ref, dict, error) {
	root, _ := d.trailer.ref("Root")
	c, err := d.resolveDict(root)
	if err != nil {
		return ref{}, nil, fmt.Errorf("catalog: %w", err)
	}
	return root, c, nil
}

// PageCount returns the /Count of the root pages node.
func (d *Document) PageCount() (int, error) {
	_, cat, err := d.catalog()
	if err != nil {
		return 0, err
	}
	pages, err := d.resolveDict(cat["Pages"])
	if err != nil {
		return 0, fmt.Errorf("pages tree: %w", err)
	}
	n, ok := pages.int("Count")
	if !ok || n < 0 || n > int64(d.lim.MaxObjects) {
		return 0, fmt.Errorf("%w: pages tree /Count %v", ErrMalformed, pages["Count"])
	}
	return int(n), nil
}

// page finds the 1-based page n by descending the pages tree with the
// nodes' /Count (ISO 32000-1 §7.7.3.2), refusing loops and deep trees.
func (d *Document) page(n int) (ref, dict, error) {
	count, err := d.PageCount()
	if err != nil {
		return ref{}, nil, err
	}
	if n < 1 || n > count {
		return ref{}, nil, fmt.Errorf("%w: page %d of %d", ErrInvalidOptions, n, count)
	}
	_, cat, _ := d.catalog()
	node, ok := cat["Pages"].(ref)
	if !ok {
		return ref{}, nil, fmt.Errorf("%w: /Pages is not a reference", ErrMalformed)
	}
	seen := map[int]bool{}
	idx := n - 1
	for depth := 0; depth < maxTreeDepth; depth++ {
		if seen[node.num] {
			return ref{}, nil, fmt.Errorf("%w: loop in the pages tree at object %d", ErrMalformed, node.num)
		}
		seen[node.num] = true
		nd, err := d.resolveDict(node)
		if err != nil {
			return ref{}, nil, fmt.Errorf("pages tree node %d: %w", node.num, err)
		}
		kids, err := d.resolveArray(nd["Kids"])
		if err != nil {
			return ref{}, nil, fmt.Errorf("pages tree node %d: %w", node.num, err)
		}
		found := false
		for _, k := range kids {
			kr, ok := k.(ref)
			if !ok {
				return ref{}, nil, fmt.Errorf("%w: page tree kid is not a reference", ErrMalformed)
			}
			kd, err := d.resolveDict(kr)
			if err != nil {
				return ref{}, nil, fmt.Errorf("page tree kid %d: %w", kr.num, err)
			}
			if t, _ := kd.name("Type"); t == "Pages" {
				c, ok := kd.int("Count")
				if !ok || c < 0 {
					return ref{}, nil, fmt.Errorf("%w: pages node %d without /Count", ErrMalformed, kr.num)
				}
				if int64(idx) < c {
					node, found = kr, true
					break
				}
				idx -= int(c)
				continue
			}
			if idx == 0 {
				if seen[kr.num] {
					return ref{}, nil, fmt.Errorf("%w: loop in the pages tree at object %d", ErrMalformed, kr.num)
				}
				return kr, kd, nil
			}
			idx--
		}
		if !found {
			return ref{}, nil, fmt.Errorf("%w: page %d not found in the pages tree", ErrMalformed, n)
		}
	}
	return ref{}, nil, fmt.Errorf("%w: pages tree deeper than %d", ErrMalformed, maxTreeDepth)
}

// acroForm returns the interactive form dictionary and its reference (zero
// when absent or direct in the catalog).
func (d *Document) acroForm(cat dict) (ref, dict, error) {
	o, ok := cat["AcroForm"]
	if !ok {
		return ref{}, nil, nil
	}
	r, _ := o.(ref)
	af, err := d.resolve(o)
	if err != nil {
		return ref{}, nil, fmt.Errorf("AcroForm: %w", err)
	}
	if af == nil {
		return ref{}, nil, nil
	}
	afd, ok := af.(dict)
	if !ok {
		return ref{}, nil, fmt.Errorf("%w: AcroForm is not a dictionary", ErrMalformed)
	}
	return r, afd, nil
}

// field is one terminal form field, with its inherited /FT and full name.
type field struct {
	ref      ref
	dict     dict
	ft       name
	fullName string
}

// walkFields visits the terminal fields of the form (ISO 32000-1 §12.7.3.1),
// following /Kids that are fields, bounded in depth, count and loops.
func (d *Document) walkFields(af dict, visit func(field) error) error {
	if af == nil {
		return nil
	}
	top, err := d.resolveArray(af["Fields"])
	if err != nil {
		return fmt.Errorf("AcroForm /Fields: %w", err)
	}
	seen := map[int]bool{}
	var walk func(o object, parentName string, ft name, depth int) error
	walk = func(o object, parentName string, ft name, depth int) error {
		if depth > maxTreeDepth {
			return fmt.Errorf("%w: form field tree deeper than %d", ErrMalformed, maxTreeDepth)
		}
		r, _ := o.(ref)
		if r.num != 0 {
			if seen[r.num] {
				return fmt.Errorf("%w: loop in the form field tree at object %d", ErrMalformed, r.num)
			}
			seen[r.num] = true
		}
		if len(seen) > maxFields {
			return fmt.Errorf("%w: more than %d form fields", ErrTooLarge, maxFields)
		}
		fd, err := d.resolveDict(o)
		if err != nil {
			return fmt.Errorf("form field: %w", err)
		}
		full := parentName
		if t, ok := fd["T"].(pdfString); ok {
			if full != "" {
				full += "."
			}
			full += textString(t.b)
		}
		if f, ok := fd.name("FT"); ok {
			ft = f
		}
		kids, err := d.resolveArray(fd["Kids"])
		if err != nil {
			return fmt.Errorf("form field /Kids: %w", err)
		}
		// Kids without /T are widgets of this field, not fields.
		var fieldKids []object
		for _, k := range kids {
			kd, err := d.resolveDict(k)
			if err != nil {
				return fmt.Errorf("form field kid: %w", err)
			}
			if _, ok := kd["T"]; ok {
				fieldKids = append(fieldKids, k)
			}
		}
		if len(fieldKids) == 0 {
			return visit(field{ref: r, dict: fd, ft: ft, fullName: full})
		}
		for _, k := range fieldKids {
			if err := walk(k, full, ft, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	for _, f := range top {
		if err := walk(f, "", "", 0); err != nil {
			return err
		}
	}
	return nil
}

// textString decodes a PDF text string (ISO 32000-1 §7.9.2.2): UTF-16BE
// with a BOM, or PDFDocEncoding (read as Latin-1, close enough for names).
func textString(b []byte) string {
	if len(b) >= 2 && b[0] == 0xFE && b[1] == 0xFF {
		u := make([]rune, 0, len(b)/2)
		for i := 2; i+1 < len(b); i += 2 {
			c := rune(b[i])<<8 | rune(b[i+1])
			if c >= 0xD800 && c < 0xDC00 && i+3 < len(b) {
				lo := rune(b[i+2])<<8 | rune(b[i+3])
				if lo >= 0xDC00 && lo < 0xE000 {
					c = 0x10000 + (c-0xD800)<<10 + (lo - 0xDC00)
					i += 2
				}
			}
			u = append(u, c)
		}
		return string(u)
	}
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF { // PDF 2.0 UTF-8
		return string(b[3:])
	}
	u := make([]rune, len(b))
	for i, c := range b {
		u[i] = rune(c)
	}
	return string(u)
}

// encodeTextString encodes s as PDFDocEncoding when it is plain ASCII
// (readable in any tool) and as UTF-16BE with a BOM otherwise.
func encodeTextString(s string) pdfString {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return pdfString{b: []byte(s)}
	}
	b := []byte{0xFE, 0xFF}
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			hi, lo := 0xD800+(r>>10), 0xDC00+(r&0x3FF)
			b = append(b, byte(hi>>8), byte(hi), byte(lo>>8), byte(lo))
			continue
		}
		b = append(b, byte(r>>8), byte(r))
	}
	return pdfString{b: b}
}
