package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
)

// oidSignedData is the DER encoding of id-signedData (RFC 5652 §5.1),
// 1.2.840.113549.1.7.2, with its tag and length.
var oidSignedData = []byte{0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02}

// Sniff names the kind of signed document b is: "pdf", "cms" (DER or PEM
// CMS SignedData), "jades" (a JWS in JSON or compact serialization), or ""
// when it is none of these. It looks at the shape only.
func Sniff(b []byte) string {
	head := b[:min(len(b), 1024)]
	if bytes.Contains(head, []byte("%PDF-")) {
		return "pdf"
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return ""
	}
	if blk, _ := pem.Decode(t); blk != nil && (blk.Type == "PKCS7" || blk.Type == "CMS") {
		t = blk.Bytes
	}
	if t[0] == 0x30 && bytes.Contains(t[:min(len(t), 24)], oidSignedData) {
		return "cms"
	}
	if t[0] == '{' {
		var m map[string]json.RawMessage
		if json.Unmarshal(t, &m) != nil {
			return ""
		}
		if _, ok := m["signatures"]; ok {
			return "jades"
		}
		if _, ok := m["protected"]; ok {
			return "jades"
		}
		return ""
	}
	// Compact serialization: BASE64URL(header).payload.signature with a
	// header that is a JSON object naming alg.
	parts := bytes.Split(t, []byte("."))
	if len(parts) != 3 {
		return ""
	}
	header, err := base64.RawURLEncoding.DecodeString(string(parts[0]))
	if err != nil {
		return ""
	}
	var h map[string]json.RawMessage
	if json.Unmarshal(header, &h) != nil {
		return ""
	}
	if _, ok := h["alg"]; ok {
		return "jades"
	}
	return ""
}
