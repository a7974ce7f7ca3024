package main

import (
	"fmt"
	"io"

	"eidp/bench/oauth"
)

// printJWKS writes the JWK Set of the public half of the PEM private key at
// path (oauth.PublicJWKS): what a benchmark script registers as the
// private_key_jwt client's "jwks" before running client-credentials-jwt
// with -key and -key-id (the printed kid).
func printJWKS(path string, w io.Writer) error {
	out, err := oauth.PublicJWKS(path)
	if err != nil {
		return fmt.Errorf("loadgen: -print-jwks: %w", err)
	}
	_, err = w.Write(append(out, '\n'))
	return err
}
