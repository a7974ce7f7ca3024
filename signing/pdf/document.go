package pdf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Sentinel errors. Every error returned by this package wraps one of them
// (or an I/O error from the caller's reader) with what was wrong.
var (
	// ErrEncrypted: the trailer has /Encrypt; encrypted PDFs are refused.
	ErrEncrypted = errors.New("pdf: encrypted documents are not supported")
	// ErrMalformed: the file is not a PDF this package can read safely.
	ErrMalformed = errors.New("pdf: malformed document")
	// ErrTooLarge: the file, an object or a stream exceeds a limit.
	ErrTooLarge = errors.New("pdf: document too large")
	// ErrContentsTooLarge: the CMS does not fit the reserved /Contents.
	ErrContentsTooLarge = errors.New("pdf: signature larger than the reserved /Contents")
	// ErrInvalidOptions: SignOptions, Appearance or DSS input is unusable.
	ErrInvalidOptions = errors.New("pdf: invalid options")
)

// Limits bound what Open accepts. Zero fields take the defaults.
type Limits struct {
	MaxSize    int64 // bytes; default 64 MiB
	MaxObjects int   // cross-reference entries; default 1,000,000
}

const (
	defaultMaxSize    = 64 << 20
	defaultMaxObjects = 1_000_000
	maxRevisions      = 4096     // xref sections followed through /Prev
	maxDecodedStream  = 64 << 20 // decoded xref/object/DSS stream
	maxCachedObjects  = 4096
)

// xrefEntry locates one object: kind 'n' at offset off (generation gen),
// kind 'c' at index idx of object stream off, kind 'f' free. The zero
// value means "not listed".
type xrefEntry struct {
	kind byte
	gen  int
	off  int64
	idx  int
}

// Document is an opened PDF. It reads from the io.ReaderAt given to Open,
// which must stay readable and unchanged while the Document (and any
// Prepared made from it) is in use. A Document is not safe for concurrent
// use.
type Document struct {
	r    io.ReaderAt
	size int64
	lim  Limits

	xref       []xrefEntry
	trailer    dict  // the newest trailer (or xref stream dictionary)
	startxref  int64 // offset of the newest xref section
	xrefStream bool  // the newest section is an xref stream
	endsInEOL  bool

	cache   map[int]object
	objstms map[int]*objectStream
	depth   int // nested fetches (a stream /Length or an object stream)
}

// Open reads the trailer and cross-reference sections of a PDF of size
// bytes. Nothing else is read until asked for.
func Open(r io.ReaderAt, size int64, lim Limits) (*Document, error) {
	if lim.MaxSize <= 0 {
		lim.MaxSize = defaultMaxSize
	}
	if lim.MaxObjects <= 0 {
		lim.MaxObjects = defaultMaxObjects
	}
	if size > lim.MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, lim.MaxSize)
	}
	if size < 32 {
		return nil, fmt.Errorf("%w: only %d bytes", ErrMalformed, size)
	}
	d := &Document{r: r, size: size, lim: lim, cache: map[int]object{}, objstms: map[int]*objectStream{}}
	if err := d.checkHeader(); err != nil {
		return nil, err
	}
	start, err := d.findStartXRef()
	if err != nil {
		return nil, err
	}
	d.startxref = start
	if err := d.readXRefChain(start); err != nil {
		return nil, err
	}
	if _, ok := d.trailer["Encrypt"]; ok {
		return nil, ErrEncrypted
	}
	if _, ok := d.trailer.ref("Root"); !ok {
		return nil, fmt.Errorf("%w: trailer has no /Root reference", ErrMalformed)
	}
	return d, nil
}

func (d *Document) readAt(off int64, n int) ([]byte, error) {
	if off < 0 || off >= d.size {
		return nil, fmt.Errorf("%w: offset %d outside the file", ErrMalformed, off)
	}
	n = int(min(int64(n), d.size-off))
	b := make([]byte, n)
	if _, err := d.r.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("pdf: read at %d: %w", off, err)
	}
	return b, nil
}

// checkHeader looks for %PDF- in the first KiB (ISO 32000-1 §7.5.2; readers
// tolerate leading junk) and records whether the file ends with an EOL.
func (d *Document) checkHeader() error {
	b, err := d.readAt(0, 1024)
	if err != nil {
		return err
	}
	if !bytes.Contains(b, []byte("%PDF-")) {
		return fmt.Errorf("%w: no %%PDF- header", ErrMalformed)
	}
	last, err := d.readAt(d.size-1, 1)
	if err != nil {
		return err
	}
	d.endsInEOL = last[0] == '\n' || last[0] == '\r'
	return nil
}

// findStartXRef reads the last "startxref N" in the final 2 KiB.
func (d *Document) findStartXRef() (int64, error) {
	const tail = 2048
	off := max(0, d.size-tail)
	b, err := d.readAt(off, tail)
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndex(b, []byte("startxref"))
	if i < 0 {
		return 0, fmt.Errorf("%w: no startxref", ErrMalformed)
	}
	p := newParser(bytes.NewReader(b[i+len("startxref"):]), off+int64(i)+9)
	n, err := p.int()
	if err != nil {
		return 0, fmt.Errorf("startxref: %w", err)
	}
	if n >= d.size {
		return 0, fmt.Errorf("%w: startxref %d beyond the end of the file", ErrMalformed, n)
	}
	return n, nil
}

// readXRefChain reads the newest xref section at start and its /Prev
// chain. Newer entries win; a loop or an over-long chain is malformed.
func (d *Document) readXRefChain(start int64) error {
	seen := map[int64]bool{}
	off := start
	for i := 0; ; i++ {
		if seen[off] {
			return fmt.Errorf("%w: /Prev loop at offset %d", ErrMalformed, off)
		}
		if i >= maxRevisions {
			return fmt.Errorf("%w: more than %d xref sections", ErrTooLarge, maxRevisions)
		}
		seen[off] = true
		trailer, isStream, err := d.readXRefSection(off)
		if err != nil {
			return fmt.Errorf("xref section at %d: %w", off, err)
		}
		if i == 0 {
			d.trailer = trailer
			d.xrefStream = isStream
		} else if _, ok := trailer["Encrypt"]; ok {
			return ErrEncrypted
		}
		prev, ok := trailer["Prev"]
		if !ok {
			return nil
		}
		p, ok := prev.(int64)
		if !ok || p < 0 || p >= d.size {
			return fmt.Errorf("%w: bad /Prev %v", ErrMalformed, prev)
		}
		off = p
	}
}

// readXRefSection reads one section: a classic table and its trailer (with
// an optional hybrid /XRefStm), or an xref stream.
func (d *Document) readXRefSection(off int64) (dict, bool, error) {
	p := newParser(io.NewSectionReader(d.r, off, d.size-off), off)
	p.budget = int64(d.lim.MaxObjects)*24 + maxObjectBytes
	t, err := p.peek(0)
	if err != nil {
		return nil, false, err
	}
	if t.val != keyword("xref") {
		trailer, err := d.readXRefStream(off)
		return trailer, true, err
	}
	p.peeked = nil
	section := map[int]xrefEntry{}
	for {
		t, err := p.next()
		if err != nil {
			return nil, false, err
		}
		if t.val == keyword("trailer") {
			break
		}
		first, ok := t.val.(int64)
		if !ok || first < 0 {
			return nil, false, p.malformed("bad xref subsection header")
		}
		count, err := p.int()
		if err != nil {
			return nil, false, err
		}
		if first+count > int64(d.lim.MaxObjects) {
			return nil, false, fmt.Errorf("%w: xref lists object %d, limit %d objects", ErrTooLarge, first+count, d.lim.MaxObjects)
		}
		for n := range int(count) {
			o, err1 := p.int()
			g, err2 := p.int()
			k, err3 := p.next()
			if err := errors.Join(err1, err2, err3); err != nil {
				return nil, false, err
			}
			num := int(first) + n
			switch k.val {
			case keyword("n"):
				section[num] = xrefEntry{kind: 'n', gen: int(g), off: o}
			case keyword("f"):
				section[num] = xrefEntry{kind: 'f', gen: int(g)}
			default:
				return nil, false, p.malformed("bad xref entry type")
			}
		}
	}
	o, err := p.object(0)
	if err != nil {
		return nil, false, err
	}
	trailer, ok := o.(dict)
	if !ok {
		return nil, false, p.malformed("trailer is not a dictionary")
	}
	// Hybrid file (ISO 32000-1 §7.5.8.4): the table's in-use entries come
	// first, then the stream's; the stream fills what the table lists as
	// free or leaves out.
	if x, ok := trailer["XRefStm"]; ok {
		xo, ok := x.(int64)
		if !ok || xo < 0 || xo >= d.size {
			return nil, false, fmt.Errorf("%w: bad /XRefStm", ErrMalformed)
		}
		if _, err := d.readXRefStream(xo, section); err != nil {
			return nil, false, fmt.Errorf("/XRefStm: %w", err)
		}
	}
	for num, e := range section {
		d.setEntry(num, e)
	}
	return trailer, false, nil
}

// setEntry records e unless a newer section already listed num.
func (d *Document) setEntry(num int, e xrefEntry) {
	if num >= len(d.xref) {
		n := max(num+1, 2*len(d.xref))
		n = min(n, d.lim.MaxObjects)
		d.xref = append(d.xref, make([]xrefEntry, n-len(d.xref))...)
	}
	if d.xref[num].kind == 0 {
		d.xref[num] = e
	}
}

// readXRefStream reads an xref stream (ISO 32000-1 §7.5.8). With a hybrid
// table's entries given, it only fills entries the table did not mark in
// use; otherwise it records its entries in the document.
func (d *Document) readXRefStream(off int64, hybrid ...map[int]xrefEntry) (dict, error) {
	o, _, err := d.parseIndirectAt(off, -1)
	if err != nil {
		return nil, err
	}
	s, ok := o.(*stream)
	if !ok {
		return nil, fmt.Errorf("%w: xref stream expected at %d", ErrMalformed, off)
	}
	if t, _ := s.dict.name("Type"); t != "XRef" {
		return nil, fmt.Errorf("%w: xref stream without /Type /XRef", ErrMalformed)
	}
	size, ok := s.dict.int("Size")
	if !ok || size < 0 || size > int64(d.lim.MaxObjects) {
		return nil, fmt.Errorf("%w: xref stream /Size %v (limit %d)", ErrTooLarge, s.dict["Size"], d.lim.MaxObjects)
	}
	w, ok := s.dict["W"].(array)
	if !ok || len(w) != 3 {
		return nil, fmt.Errorf("%w: xref stream /W", ErrMalformed)
	}
	var widths [3]int
	row := 0
	for i, v := range w {
		n, ok := v.(int64)
		if !ok || n < 0 || n > 8 {
			return nil, fmt.Errorf("%w: xref stream /W", ErrMalformed)
		}
		widths[i] = int(n)
		row += int(n)
	}
	if row == 0 {
		return nil, fmt.Errorf("%w: xref stream /W", ErrMalformed)
	}
	index := array{int64(0), size}
	if ix, ok := s.dict["Index"].(array); ok {
		index = ix
	}
	if len(index)%2 != 0 {
		return nil, fmt.Errorf("%w: xref stream /Index", ErrMalformed)
	}
	total := int64(0)
	for i := 1; i < len(index); i += 2 {
		first, ok1 := index[i-1].(int64)
		count, ok2 := index[i].(int64)
		if !ok1 || !ok2 || first < 0 || count < 0 || first+count > int64(d.lim.MaxObjects) {
			return nil, fmt.Errorf("%w: xref stream /Index beyond %d objects", ErrTooLarge, d.lim.MaxObjects)
		}
		total += count
	}
	data, err := d.streamData(s, total*int64(row)+total+1024)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) < total*int64(row) {
		return nil, fmt.Errorf("%w: xref stream has %d bytes for %d entries", ErrMalformed, len(data), total)
	}
	field := func(b []byte, def int64) int64 {
		if len(b) == 0 {
			return def
		}
		var v int64
		for _, c := range b {
			v = v<<8 | int64(c)
		}
		return v
	}
	pos := 0
	for i := 1; i < len(index); i += 2 {
		first, count := index[i-1].(int64), index[i].(int64)
		for n := range count {
			b := data[pos : pos+row]
			pos += row
			typ := field(b[:widths[0]], 1)
			f2 := field(b[widths[0]:widths[0]+widths[1]], 0)
			f3 := field(b[widths[0]+widths[1]:], 0)
			var e xrefEntry
			switch typ {
			case 0:
				e = xrefEntry{kind: 'f', gen: int(f3)}
			case 1:
				e = xrefEntry{kind: 'n', off: f2, gen: int(f3)}
			case 2:
				if f2 < 0 || f2 >= int64(d.lim.MaxObjects) {
					return nil, fmt.Errorf("%w: xref stream entry in object stream %d", ErrMalformed, f2)
				}
				e = xrefEntry{kind: 'c', off: f2, idx: int(f3)}
			default:
				continue // ISO 32000-1 §7.5.8.3: unknown types are ignored
			}
			num := int(first + n)
			if len(hybrid) > 0 {
				if old, ok := hybrid[0][num]; !ok || old.kind == 'f' {
					hybrid[0][num] = e
				}
				continue
			}
			d.setEntry(num, e)
		}
	}
	return s.dict, nil
}
