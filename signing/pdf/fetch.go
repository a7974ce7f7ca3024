package pdf

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
)

const maxFetchDepth = 8 // a /Length or object stream needing another object, and so on

// parseIndirectAt parses "num gen obj ... " at off. With want >= 0 the
// object number must match. A stream's data is not read.
func (d *Document) parseIndirectAt(off int64, want int) (object, ref, error) {
	if off < 0 || off >= d.size {
		return nil, ref{}, fmt.Errorf("%w: object offset %d outside the file", ErrMalformed, off)
	}
	p := newParser(io.NewSectionReader(d.r, off, d.size-off), off)
	num, err1 := p.int()
	gen, err2 := p.int()
	if err := errors.Join(err1, err2); err != nil {
		return nil, ref{}, err
	}
	if err := p.expectKeyword("obj"); err != nil {
		return nil, ref{}, err
	}
	r := ref{num: int(num), gen: int(gen)}
	if want >= 0 && r.num != want {
		return nil, ref{}, fmt.Errorf("%w: expected object %d at offset %d, found %d", ErrMalformed, want, off, num)
	}
	o, err := p.object(0)
	if err != nil {
		return nil, ref{}, err
	}
	dc, ok := o.(dict)
	if !ok {
		return o, r, nil
	}
	t, err := p.peek(0)
	if err != nil || t.val != keyword("stream") {
		return o, r, nil // endobj (or junk we do not need)
	}
	p.peeked = nil
	// ISO 32000-1 §7.3.8.1: "stream" is followed by CRLF or LF.
	c, err := p.readByte()
	if err != nil {
		return nil, ref{}, err
	}
	if c == '\r' {
		if c, err = p.readByte(); err != nil {
			return nil, ref{}, err
		}
		if c != '\n' {
			p.unreadByte() // a lone CR: tolerated
		}
	} else if c != '\n' {
		return nil, ref{}, p.malformed("no end of line after 'stream'")
	}
	return &stream{dict: dc, offset: p.pos}, r, nil
}

// fetch returns the object r refers to; a free or unlisted reference is
// null (ISO 32000-1 §7.3.10).
func (d *Document) fetch(r ref) (object, error) {
	if o, ok := d.cache[r.num]; ok {
		return o, nil
	}
	if r.num < 0 || r.num >= len(d.xref) {
		return nil, nil
	}
	if d.depth >= maxFetchDepth {
		return nil, fmt.Errorf("%w: references nested deeper than %d", ErrMalformed, maxFetchDepth)
	}
	d.depth++
	defer func() { d.depth-- }()
	e := d.xref[r.num]
	var o object
	switch e.kind {
	case 'n':
		if e.gen != r.gen {
			return nil, nil
		}
		var err error
		if o, _, err = d.parseIndirectAt(e.off, r.num); err != nil {
			return nil, fmt.Errorf("object %d: %w", r.num, err)
		}
	case 'c':
		if r.gen != 0 {
			return nil, nil
		}
		os, err := d.objectStream(int(e.off))
		if err != nil {
			return nil, fmt.Errorf("object %d in object stream %d: %w", r.num, e.off, err)
		}
		if o, err = os.object(r.num); err != nil {
			return nil, fmt.Errorf("object %d in object stream %d: %w", r.num, e.off, err)
		}
	default:
		return nil, nil
	}
	if len(d.cache) < maxCachedObjects {
		d.cache[r.num] = o
	}
	return o, nil
}

// resolve follows o if it is a reference.
func (d *Document) resolve(o object) (object, error) {
	if r, ok := o.(ref); ok {
		return d.fetch(r)
	}
	return o, nil
}

func (d *Document) resolveDict(o object) (dict, error) {
	o, err := d.resolve(o)
	if err != nil {
		return nil, err
	}
	switch v := o.(type) {
	case dict:
		return v, nil
	case *stream:
		return v.dict, nil
	}
	return nil, fmt.Errorf("%w: expected a dictionary, found %T", ErrMalformed, o)
}

// resolveArray resolves o to an array; a missing value is an empty array.
func (d *Document) resolveArray(o object) (array, error) {
	o, err := d.resolve(o)
	if err != nil {
		return nil, err
	}
	switch v := o.(type) {
	case nil:
		return nil, nil
	case array:
		return v, nil
	}
	return nil, fmt.Errorf("%w: expected an array, found %T", ErrMalformed, o)
}

// streamData reads and decodes a stream, refusing more than limit decoded
// bytes.
func (d *Document) streamData(s *stream, limit int64) ([]byte, error) {
	limit = min(limit, maxDecodedStream)
	lo, err := d.resolve(s.dict["Length"])
	if err != nil {
		return nil, err
	}
	n, ok := lo.(int64)
	if !ok || n < 0 || s.offset+n > d.size {
		return nil, fmt.Errorf("%w: stream /Length %v at offset %d", ErrMalformed, lo, s.offset)
	}
	if n > maxDecodedStream {
		return nil, fmt.Errorf("%w: stream of %d bytes", ErrTooLarge, n)
	}
	raw := make([]byte, n)
	if _, err := d.r.ReadAt(raw, s.offset); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
		return nil, fmt.Errorf("pdf: read stream at %d: %w", s.offset, err)
	}
	filters, parms, err := d.filters(s.dict)
	if err != nil {
		return nil, err
	}
	data := raw
	for i, f := range filters {
		switch f {
		case "FlateDecode":
			if data, err = inflate(data, limit); err != nil {
				return nil, err
			}
			if data, err = unpredict(data, parms[i]); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: unsupported stream filter /%s", ErrMalformed, f)
		}
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: stream decodes to more than %d bytes", ErrTooLarge, limit)
	}
	return data, nil
}

func (d *Document) filters(sd dict) ([]name, []dict, error) {
	fo, err := d.resolve(sd["Filter"])
	if err != nil {
		return nil, nil, err
	}
	po, err := d.resolve(sd["DecodeParms"])
	if err != nil {
		return nil, nil, err
	}
	var names []name
	switch f := fo.(type) {
	case nil:
	case name:
		names = []name{f}
	case array:
		for _, e := range f {
			n, ok := e.(name)
			if !ok {
				return nil, nil, fmt.Errorf("%w: bad /Filter", ErrMalformed)
			}
			names = append(names, n)
		}
	default:
		return nil, nil, fmt.Errorf("%w: bad /Filter", ErrMalformed)
	}
	parms := make([]dict, len(names))
	switch p := po.(type) {
	case dict:
		if len(parms) > 0 {
			parms[0] = p
		}
	case array:
		for i := range min(len(p), len(parms)) {
			parms[i], _ = p[i].(dict)
		}
	}
	return names, parms, nil
}

func inflate(b []byte, limit int64) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: FlateDecode: %w", ErrMalformed, err)
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: FlateDecode: %w", ErrMalformed, err)
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("%w: stream decodes to more than %d bytes", ErrTooLarge, limit)
	}
	return out, nil
}

// unpredict undoes a PNG (10-15) or TIFF (2) predictor (ISO 32000-1
// §7.4.4.4) for 8-bit components, as used by xref and object streams.
func unpredict(b []byte, parms dict) ([]byte, error) {
	if parms == nil {
		return b, nil
	}
	pred, _ := parms.int("Predictor")
	if pred <= 1 {
		return b, nil
	}
	colors, columns, bpc := int64(1), int64(1), int64(8)
	if v, ok := parms.int("Colors"); ok {
		colors = v
	}
	if v, ok := parms.int("Columns"); ok {
		columns = v
	}
	if v, ok := parms.int("BitsPerComponent"); ok {
		bpc = v
	}
	if colors < 1 || colors > 32 || columns < 1 || columns > 1<<20 || bpc != 8 {
		return nil, fmt.Errorf("%w: unsupported predictor parameters", ErrMalformed)
	}
	bpp := int(colors)
	rowLen := int(colors * columns)
	if pred == 2 {
		if len(b)%rowLen != 0 {
			return nil, fmt.Errorf("%w: TIFF predictor row length", ErrMalformed)
		}
		for r := 0; r < len(b); r += rowLen {
			for i := bpp; i < rowLen; i++ {
				b[r+i] += b[r+i-bpp]
			}
		}
		return b, nil
	}
	if pred < 10 || pred > 15 {
		return nil, fmt.Errorf("%w: unsupported predictor %d", ErrMalformed, pred)
	}
	stride := rowLen + 1
	if len(b)%stride != 0 {
		return nil, fmt.Errorf("%w: PNG predictor: %d bytes is not a whole number of %d-byte rows", ErrMalformed, len(b), stride)
	}
	out := make([]byte, 0, len(b)/stride*rowLen)
	prev := make([]byte, rowLen)
	for r := 0; r < len(b); r += stride {
		ft, row := b[r], b[r+1:r+stride]
		cur := make([]byte, rowLen)
		for i := range rowLen {
			var left, upLeft byte
			if i >= bpp {
				left, upLeft = cur[i-bpp], prev[i-bpp]
			}
			up := prev[i]
			switch ft {
			case 0:
				cur[i] = row[i]
			case 1:
				cur[i] = row[i] + left
			case 2:
				cur[i] = row[i] + up
			case 3:
				cur[i] = row[i] + byte((int(left)+int(up))/2)
			case 4:
				cur[i] = row[i] + paeth(left, up, upLeft)
			default:
				return nil, fmt.Errorf("%w: PNG predictor filter type %d", ErrMalformed, ft)
			}
		}
		out = append(out, cur...)
		prev = cur
	}
	return out, nil
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// objectStream is a decoded object stream (ISO 32000-1 §7.5.7).
type objectStream struct {
	data    []byte
	offsets map[int]int // object number → offset in data
}

const maxCachedObjectStreams = 8

func (d *Document) objectStream(num int) (*objectStream, error) {
	if os, ok := d.objstms[num]; ok {
		return os, nil
	}
	if num < 0 || num >= len(d.xref) || d.xref[num].kind != 'n' {
		return nil, fmt.Errorf("%w: object stream %d not found", ErrMalformed, num)
	}
	o, _, err := d.parseIndirectAt(d.xref[num].off, num)
	if err != nil {
		return nil, err
	}
	s, ok := o.(*stream)
	if !ok {
		return nil, fmt.Errorf("%w: object %d is not a stream", ErrMalformed, num)
	}
	n, ok1 := s.dict.int("N")
	first, ok2 := s.dict.int("First")
	if !ok1 || !ok2 || n < 0 || first < 0 || n > int64(d.lim.MaxObjects) {
		return nil, fmt.Errorf("%w: object stream /N or /First", ErrMalformed)
	}
	data, err := d.streamData(s, maxDecodedStream)
	if err != nil {
		return nil, err
	}
	if first > int64(len(data)) {
		return nil, fmt.Errorf("%w: object stream /First beyond its data", ErrMalformed)
	}
	p := newParser(bytes.NewReader(data[:first]), 0)
	os := &objectStream{data: data[first:], offsets: make(map[int]int, min(n, 1<<16))}
	for range n {
		on, err1 := p.int()
		oo, err2 := p.int()
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("object stream header: %w", err)
		}
		if oo > int64(len(os.data)) {
			return nil, fmt.Errorf("%w: object stream offset beyond its data", ErrMalformed)
		}
		if _, dup := os.offsets[int(on)]; !dup {
			os.offsets[int(on)] = int(oo)
		}
	}
	if len(d.objstms) >= maxCachedObjectStreams {
		clear(d.objstms)
	}
	d.objstms[num] = os
	return os, nil
}

func (os *objectStream) object(num int) (object, error) {
	off, ok := os.offsets[num]
	if !ok {
		return nil, fmt.Errorf("%w: object not in its object stream", ErrMalformed)
	}
	return newParser(bytes.NewReader(os.data[off:]), 0).object(0)
}
