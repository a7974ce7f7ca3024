package pdf

import (
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"time"
)

// DSS is validation material for PAdES B-LT (ETSI EN 319 142-1 §5.4;
// ISO 32000-2 §12.8.4.3): DER certificates, OCSP responses and CRLs.
type DSS struct {
	Certs, OCSPs, CRLs [][]byte
	// VRI is keyed by Signature.VRIKey (upper-case hex SHA-1 of the
	// signature's /Contents). Optional.
	VRI map[string]VRIEntry
}

// VRIEntry is the validation material of one signature. Its items are
// also added to the document-wide arrays.
type VRIEntry struct {
	Certs, OCSPs, CRLs [][]byte
	TU                 time.Time // when the material was gathered; optional
}

const (
	maxDSSItems    = 10000
	maxDSSItemSize = 8 << 20
)

// AppendDSS writes the document followed by an incremental update that
// adds a /DSS dictionary to the catalog, or extends the existing one: items
// already present (same bytes) are referenced, not written again.
func (d *Document) AppendDSS(w io.Writer, dss DSS) (int64, error) {
	n := len(dss.Certs) + len(dss.OCSPs) + len(dss.CRLs)
	for k, e := range dss.VRI {
		if len(k) != 40 || strings.ToUpper(k) != k || strings.Trim(k, "0123456789ABCDEF") != "" {
			return 0, fmt.Errorf("%w: VRI key %q is not an upper-case hex SHA-1", ErrInvalidOptions, k)
		}
		n += len(e.Certs) + len(e.OCSPs) + len(e.CRLs)
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: empty DSS", ErrInvalidOptions)
	}
	if n > maxDSSItems {
		return 0, fmt.Errorf("%w: %d DSS items, limit %d", ErrInvalidOptions, n, maxDSSItems)
	}
	for _, group := range [][][]byte{dss.Certs, dss.OCSPs, dss.CRLs} {
		for _, b := range group {
			if len(b) == 0 || len(b) > maxDSSItemSize {
				return 0, fmt.Errorf("%w: DSS item of %d bytes", ErrInvalidOptions, len(b))
			}
		}
	}

	rootRef, cat, err := d.catalog()
	if err != nil {
		return 0, err
	}
	dssRef, _ := cat["DSS"].(ref)
	old := dict{}
	if o, ok := cat["DSS"]; ok {
		if old, err = d.resolveDict(o); err != nil {
			return 0, fmt.Errorf("existing DSS: %w", err)
		}
	}

	u := d.newUpdate()
	// One array per kind; known holds the items already in it by hash.
	type list struct {
		key   name
		items array
		known map[[32]byte]ref
	}
	lists := map[name]*list{}
	for _, k := range []name{"Certs", "OCSPs", "CRLs"} {
		items, err := d.resolveArray(old[k])
		if err != nil {
			return 0, fmt.Errorf("existing DSS /%s: %w", k, err)
		}
		if len(items) > maxDSSItems {
			return 0, fmt.Errorf("%w: existing DSS /%s has %d items", ErrTooLarge, k, len(items))
		}
		l := &list{key: k, items: append(array{}, items...), known: map[[32]byte]ref{}}
		for _, it := range items {
			r, ok := it.(ref)
			if !ok {
				continue
			}
			so, err := d.fetch(r)
			if err != nil {
				return 0, fmt.Errorf("existing DSS /%s: %w", k, err)
			}
			s, ok := so.(*stream)
			if !ok {
				return 0, fmt.Errorf("%w: existing DSS /%s item %d is not a stream", ErrMalformed, k, r.num)
			}
			data, err := d.streamData(s, maxDSSItemSize)
			if err != nil {
				return 0, fmt.Errorf("existing DSS /%s item %d: %w", k, r.num, err)
			}
			l.known[sha256.Sum256(data)] = r
		}
		lists[k] = l
	}
	add := func(l *list, data []byte) ref {
		h := sha256.Sum256(data)
		if r, ok := l.known[h]; ok {
			return r
		}
		r := u.newRef()
		u.writeStream(r, dict{}, data)
		l.known[h] = r
		l.items = append(l.items, r)
		return r
	}
	addAll := func(l *list, items [][]byte) array {
		refs := array{}
		for _, b := range items {
			refs = append(refs, add(l, b))
		}
		return refs
	}
	addAll(lists["Certs"], dss.Certs)
	addAll(lists["OCSPs"], dss.OCSPs)
	addAll(lists["CRLs"], dss.CRLs)

	newDSS := old.clone()
	newDSS["Type"] = name("DSS")
	if len(dss.VRI) > 0 {
		vri, err := d.resolveDict(old["VRI"])
		if err != nil && old["VRI"] != nil {
			return 0, fmt.Errorf("existing DSS /VRI: %w", err)
		}
		vri = vri.clone()
		for k, e := range dss.VRI {
			entry := dict{}
			for _, kind := range []struct {
				key   name
				list  *list
				items [][]byte
			}{{"Cert", lists["Certs"], e.Certs}, {"OCSP", lists["OCSPs"], e.OCSPs}, {"CRL", lists["CRLs"], e.CRLs}} {
				if len(kind.items) > 0 {
					entry[kind.key] = addAll(kind.list, kind.items)
				}
			}
			if !e.TU.IsZero() {
				entry["TU"] = pdfString{b: []byte(formatDate(e.TU))}
			}
			vri[name(k)] = entry
		}
		newDSS["VRI"] = vri
	}
	for k, l := range lists {
		if len(l.items) > 0 {
			newDSS[k] = l.items
		}
	}
	if dssRef.num != 0 {
		u.writeObject(dssRef, newDSS)
	} else {
		dssRef = u.newRef()
		u.writeObject(dssRef, newDSS)
		newCat := cat.clone()
		newCat["DSS"] = dssRef
		u.writeObject(rootRef, newCat)
	}
	update := u.finish()

	written, err := io.Copy(w, io.NewSectionReader(d.r, 0, d.size))
	if err != nil {
		return written, fmt.Errorf("pdf: copy document: %w", err)
	}
	m, err := w.Write(update)
	written += int64(m)
	if err != nil {
		return written, fmt.Errorf("pdf: write DSS update: %w", err)
	}
	return written, nil
}
