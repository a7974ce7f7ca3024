package accesslog

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// hashLabel is the first field of every hashed entry: it names the encoding,
// so that a future encoding cannot produce the same bytes for another entry.
const hashLabel = "eidp-accesslog-v1"

// entryHash returns the lowercase hex SHA-256 of e in the encoding of
// doc.go ("The hash"): every text field is its length as an 8-byte
// big-endian unsigned integer followed by its UTF-8 bytes; seq, at (Unix
// microseconds) and the number of attributes are 8-byte big-endian
// integers.
func entryHash(e Entry) string {
	h := sha256.New()
	text := func(s string) {
		number(h, uint64(len(s)))
		h.Write([]byte(s))
	}
	text(hashLabel)
	text(e.ResidentID)
	number(h, uint64(e.Seq))
	number(h, uint64(e.At.UnixMicro()))
	text(e.ClientID)
	text(e.ClientName)
	number(h, uint64(len(e.Attributes)))
	for _, a := range e.Attributes {
		text(a)
	}
	text(e.Consent)
	text(e.RequestID)
	text(e.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}

func number(h hash.Hash, n uint64) {
	h.Write(binary.BigEndian.AppendUint64(nil, n))
}
