package ca

// ParseOCSPRequest exposes the OCSP request parser to the fuzz test: the
// number of CertIDs, each CertID's DER and the nonce's extnValue.
func ParseOCSPRequest(der []byte) (raws [][]byte, serials []string, nonce []byte, err error) {
	req, err := parseOCSPRequest(der)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, id := range req.certIDs {
		raws = append(raws, id.raw)
		serials = append(serials, id.serial.String())
	}
	return raws, serials, req.nonce, nil
}
