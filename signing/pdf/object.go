package pdf

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
)

// The PDF object model (ISO 32000-1 §7.3). Only what reading and rewriting
// the catalog, page, AcroForm and DSS objects needs.
type (
	object  any // nil (null), bool, int64, float64, name, pdfString, array, dict, ref, *stream
	name    string
	array   []object
	dict    map[name]object
	keyword string // only inside the parser: obj, endobj, stream, R, ...
	ref     struct {
		num int
		gen int
	}
	pdfString struct {
		b   []byte
		hex bool
	}
	// stream is a stream object read from the file: its dictionary and
	// the absolute offset of its first data byte. The data is read only
	// when needed (xref streams, object streams, an existing DSS).
	stream struct {
		dict   dict
		offset int64
	}
)

func (r ref) String() string { return fmt.Sprintf("%d %d R", r.num, r.gen) }

// writeObject serialises o in PDF syntax. Dictionary keys are sorted so the
// output is deterministic.
func writeObject(b *bytes.Buffer, o object) {
	switch v := o.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case int:
		b.WriteString(strconv.Itoa(v))
	case float64:
		writeReal(b, v)
	case name:
		writeName(b, v)
	case pdfString:
		if v.hex {
			writeHexString(b, v.b)
		} else {
			writeLiteralString(b, v.b)
		}
	case array:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(' ')
			}
			writeObject(b, e)
		}
		b.WriteByte(']')
	case dict:
		b.WriteString("<<")
		keys := make([]name, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			writeName(b, k)
			b.WriteByte(' ')
			writeObject(b, v[k])
		}
		b.WriteString(">>")
	case ref:
		b.WriteString(v.String())
	case rawObject:
		b.Write(v)
	default:
		// Streams are never re-serialised: they are referenced, not copied.
		panic(fmt.Sprintf("pdf: cannot serialise %T", o))
	}
}

// rawObject is already-serialised PDF syntax, used for placeholders.
type rawObject []byte

func writeReal(b *bytes.Buffer, f float64) {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if s == "-0" {
		s = "0"
	}
	b.WriteString(s)
}

// writeName escapes with #xx everything outside the regular printable
// characters (ISO 32000-1 §7.3.5).
func writeName(b *bytes.Buffer, n name) {
	b.WriteByte('/')
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c < '!' || c > '~' || c == '#' || isDelimiter(c) {
			fmt.Fprintf(b, "#%02X", c)
			continue
		}
		b.WriteByte(c)
	}
}

// writeLiteralString escapes backslashes, parentheses and the line-ending
// bytes so the string survives any reader (ISO 32000-1 §7.3.4.2).
func writeLiteralString(b *bytes.Buffer, s []byte) {
	b.WriteByte('(')
	for _, c := range s {
		switch c {
		case '(', ')', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			b.WriteString(`\r`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte(')')
}

const hexDigits = "0123456789ABCDEF"

func writeHexString(b *bytes.Buffer, s []byte) {
	b.WriteByte('<')
	for _, c := range s {
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	b.WriteByte('>')
}

// Typed accessors: a missing key or a wrong type gives the zero value and
// false, so callers decide whether that is malformed.

func (d dict) name(k name) (name, bool) {
	n, ok := d[k].(name)
	return n, ok
}

func (d dict) int(k name) (int64, bool) {
	i, ok := d[k].(int64)
	return i, ok
}

func (d dict) ref(k name) (ref, bool) {
	r, ok := d[k].(ref)
	return r, ok
}

// clone copies the top level of d, so a rewritten object never shares a map
// with the parsed one.
func (d dict) clone() dict {
	c := make(dict, len(d)+2)
	for k, v := range d {
		c[k] = v
	}
	return c
}
