package pdf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Bounds on what one parse may consume, independent of the file size: a
// hostile file cannot make the parser nest without end or build a huge
// object.
const (
	maxDepth       = 64       // nested arrays/dictionaries
	maxObjectBytes = 32 << 20 // bytes consumed while parsing one object (not counting stream data)
	maxTokenBytes  = 16 << 20 // one string or name
)

type tokenKind int

const (
	tokValue      tokenKind = iota // number, string, name, keyword
	tokArrayOpen                   // [
	tokArrayClose                  // ]
	tokDictOpen                    // <<
	tokDictClose                   // >>
)

type token struct {
	kind tokenKind
	val  object
}

// parser reads PDF tokens and objects from a byte stream, keeping track of
// the absolute offset so that stream data can be located.
type parser struct {
	r      *bufio.Reader
	pos    int64 // absolute offset of the next unread byte
	budget int64 // bytes this parser may still consume
	peeked []token
}

func newParser(r io.Reader, pos int64) *parser {
	return &parser{r: bufio.NewReaderSize(r, 4096), pos: pos, budget: maxObjectBytes}
}

var errEOF = errors.New("unexpected end of data")

func (p *parser) readByte() (byte, error) {
	if p.budget <= 0 {
		return 0, fmt.Errorf("%w: object larger than %d bytes", ErrTooLarge, maxObjectBytes)
	}
	c, err := p.r.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("%w: %w at offset %d", ErrMalformed, errEOF, p.pos)
		}
		return 0, err
	}
	p.pos++
	p.budget--
	return c, nil
}

func (p *parser) unreadByte() {
	_ = p.r.UnreadByte()
	p.pos--
	p.budget++
}

func (p *parser) malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d", ErrMalformed, fmt.Sprintf(format, args...), p.pos)
}

func isWhite(c byte) bool {
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

func isDelimiter(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

// skipSpace skips white space and comments.
func (p *parser) skipSpace() error {
	for {
		c, err := p.readByte()
		if err != nil {
			return err
		}
		switch {
		case isWhite(c):
		case c == '%':
			for c != '\n' && c != '\r' {
				if c, err = p.readByte(); err != nil {
					return err
				}
			}
		default:
			p.unreadByte()
			return nil
		}
	}
}

func (p *parser) next() (token, error) {
	if n := len(p.peeked); n > 0 {
		t := p.peeked[0]
		p.peeked = p.peeked[1:]
		return t, nil
	}
	return p.lex()
}

// peek returns the i-th token ahead (0-based) without consuming it.
func (p *parser) peek(i int) (token, error) {
	for len(p.peeked) <= i {
		t, err := p.lex()
		if err != nil {
			return token{}, err
		}
		p.peeked = append(p.peeked, t)
	}
	return p.peeked[i], nil
}

func (p *parser) lex() (token, error) {
	if err := p.skipSpace(); err != nil {
		return token{}, err
	}
	c, err := p.readByte()
	if err != nil {
		return token{}, err
	}
	switch c {
	case '[':
		return token{kind: tokArrayOpen}, nil
	case ']':
		return token{kind: tokArrayClose}, nil
	case '<':
		c2, err := p.readByte()
		if err != nil {
			return token{}, err
		}
		if c2 == '<' {
			return token{kind: tokDictOpen}, nil
		}
		p.unreadByte()
		b, err := p.hexString()
		return token{val: pdfString{b: b, hex: true}}, err
	case '>':
		c2, err := p.readByte()
		if err != nil {
			return token{}, err
		}
		if c2 != '>' {
			return token{}, p.malformed("stray '>'")
		}
		return token{kind: tokDictClose}, nil
	case '(':
		b, err := p.literalString()
		return token{val: pdfString{b: b}}, err
	case '/':
		n, err := p.name()
		return token{val: n}, err
	case ')', '{', '}':
		return token{}, p.malformed("unexpected %q", c)
	}
	p.unreadByte()
	word, err := p.regular()
	if err != nil {
		return token{}, err
	}
	return token{val: parseWord(word)}, nil
}

// regular reads a run of regular characters (numbers and keywords).
func (p *parser) regular() ([]byte, error) {
	var b []byte
	for {
		c, err := p.readByte()
		if err != nil {
			if len(b) > 0 && errors.Is(err, errEOF) {
				return b, nil // a token may end the data (object streams)
			}
			return nil, err
		}
		if isWhite(c) || isDelimiter(c) {
			p.unreadByte()
			return b, nil
		}
		if len(b) >= 64 {
			return nil, p.malformed("token too long")
		}
		b = append(b, c)
	}
}

// parseWord turns a regular token into an integer, a real or a keyword.
func parseWord(w []byte) object {
	s := string(w)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	if isNumeric(s) {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	return keyword(s)
}

// isNumeric accepts the PDF real syntax only: sign, digits, one period
// (strconv alone would also take "Inf", "0x10" or exponents).
func isNumeric(s string) bool {
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		case (c == '+' || c == '-') && i == 0:
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func (p *parser) name() (name, error) {
	var b []byte
	for {
		c, err := p.readByte()
		if err != nil {
			if errors.Is(err, errEOF) {
				return name(b), nil
			}
			return "", err
		}
		if isWhite(c) || isDelimiter(c) {
			p.unreadByte()
			return name(b), nil
		}
		if c == '#' {
			h, err1 := p.readByte()
			l, err2 := p.readByte()
			if err := errors.Join(err1, err2); err != nil {
				return "", err
			}
			hv, ok1 := unhex(h)
			lv, ok2 := unhex(l)
			if !ok1 || !ok2 {
				return "", p.malformed("bad #xx escape in name")
			}
			c = hv<<4 | lv
		}
		if len(b) >= 1024 {
			return "", p.malformed("name too long")
		}
		b = append(b, c)
	}
}

func (p *parser) hexString() ([]byte, error) {
	var b []byte
	var hi byte
	half := false
	for {
		c, err := p.readByte()
		if err != nil {
			return nil, err
		}
		if c == '>' {
			if half {
				b = append(b, hi<<4)
			}
			return b, nil
		}
		if isWhite(c) {
			continue
		}
		v, ok := unhex(c)
		if !ok {
			return nil, p.malformed("bad hex string")
		}
		if half {
			if len(b) >= maxTokenBytes {
				return nil, p.malformed("string too long")
			}
			b = append(b, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
}

// literalString reads a (...) string (ISO 32000-1 §7.3.4.2): balanced
// parentheses, backslash escapes, end-of-line markers read as LF.
func (p *parser) literalString() ([]byte, error) {
	var b []byte
	depth := 1
	for {
		if len(b) >= maxTokenBytes {
			return nil, p.malformed("string too long")
		}
		c, err := p.readByte()
		if err != nil {
			return nil, err
		}
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return b, nil
			}
		case '\r':
			if n, err := p.readByte(); err == nil && n != '\n' {
				p.unreadByte()
			}
			c = '\n'
		case '\\':
			e, err := p.readByte()
			if err != nil {
				return nil, err
			}
			switch e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r':
				if n, err := p.readByte(); err == nil && n != '\n' {
					p.unreadByte()
				}
				continue
			case '\n':
				continue
			default:
				if e >= '0' && e <= '7' {
					v := int(e - '0')
					for range 2 {
						d, err := p.readByte()
						if err != nil {
							return nil, err
						}
						if d < '0' || d > '7' {
							p.unreadByte()
							break
						}
						v = v*8 + int(d-'0')
					}
					c = byte(v)
				} else {
					c = e // \( \) \\ and unknown escapes: the character itself
				}
			}
		}
		b = append(b, c)
	}
}

// object parses one direct object, turning "n g R" into a reference.
func (p *parser) object(depth int) (object, error) {
	if depth > maxDepth {
		return nil, p.malformed("nesting deeper than %d", maxDepth)
	}
	t, err := p.next()
	if err != nil {
		return nil, err
	}
	switch t.kind {
	case tokArrayOpen:
		a := array{}
		for {
			t, err := p.peek(0)
			if err != nil {
				return nil, err
			}
			if t.kind == tokArrayClose {
				p.peeked = p.peeked[1:]
				return a, nil
			}
			o, err := p.object(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, o)
		}
	case tokDictOpen:
		d := dict{}
		for {
			t, err := p.next()
			if err != nil {
				return nil, err
			}
			if t.kind == tokDictClose {
				return d, nil
			}
			k, ok := t.val.(name)
			if t.kind != tokValue || !ok {
				return nil, p.malformed("dictionary key is not a name")
			}
			v, err := p.object(depth + 1)
			if err != nil {
				return nil, err
			}
			// ISO 32000-1 §7.3.7: a null value is the same as an absent key.
			if v != nil {
				d[k] = v
			}
		}
	case tokArrayClose, tokDictClose:
		return nil, p.malformed("unexpected end of array or dictionary")
	}
	switch v := t.val.(type) {
	case int64:
		// "n g R": look ahead two tokens.
		t1, err := p.peek(0)
		if err != nil || t1.kind != tokValue {
			return v, nil
		}
		g, ok := t1.val.(int64)
		if !ok {
			return v, nil
		}
		t2, err := p.peek(1)
		if err != nil || t2.val != keyword("R") {
			return v, nil
		}
		p.peeked = p.peeked[2:]
		if v < 0 || v > 1<<31 || g < 0 || g > 65535 {
			return nil, p.malformed("bad reference %d %d R", v, g)
		}
		return ref{num: int(v), gen: int(g)}, nil
	case keyword:
		if v == "null" {
			return nil, nil
		}
		return nil, p.malformed("unexpected keyword %q", string(v))
	}
	return t.val, nil
}

// expectKeyword consumes one token that must be the keyword kw.
func (p *parser) expectKeyword(kw keyword) error {
	t, err := p.next()
	if err != nil {
		return err
	}
	if t.val != kw {
		return p.malformed("expected %q", string(kw))
	}
	return nil
}

// int reads one token that must be a non-negative integer.
func (p *parser) int() (int64, error) {
	t, err := p.next()
	if err != nil {
		return 0, err
	}
	i, ok := t.val.(int64)
	if !ok || i < 0 {
		return 0, p.malformed("expected a non-negative integer")
	}
	return i, nil
}
