package seed

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"eidp/idp/client"
)

// The bench client: the relying party of the load generator's eidp
// scenarios.
const (
	// BenchClientName marks a client as the bench client: EnsureClient
	// updates only clients of that name.
	BenchClientName = "eidp load generator"
	// BenchRedirectURI is where codes are sent; the generator reads the
	// redirect's Location and never follows it (port 9 is "discard").
	BenchRedirectURI = "http://127.0.0.1:9/cb"
)

// BenchClient returns the bench client's metadata: confidential
// (client_secret_basic), authorization code only, LoginScopes,
// VaultScopes and SigningScopes, BenchRedirectURI.
func BenchClient(id string) client.Client {
	return client.Client{
		ClientID:                id,
		ClientName:              BenchClientName,
		RedirectURIs:            []string{BenchRedirectURI},
		GrantTypes:              []string{client.GrantAuthorizationCode},
		TokenEndpointAuthMethod: client.AuthClientSecretBasic,
		Scope:                   strings.Join(append(append(LoginScopes(), VaultScopes()...), SigningScopes()...), " "),
		Purpose:                 "Measures how many residents can log in, release vault data and sign per second (development only).",
	}
}

// EnsureClient makes the client id ready for the scenarios. No such client:
// it is created as BenchClient, and its secret returned (once: only its
// hash is stored). A bench client (BenchClientName): its metadata is set to
// BenchClient's again, its secret kept ("" returned). Any other client is
// taken as it is. It reports whether the client was created.
func EnsureClient(ctx context.Context, store *client.Store, id string) (c client.Client, secret string, created bool, err error) {
	cur, err := store.Get(ctx, id)
	switch {
	case errors.Is(err, client.ErrNotFound):
		c, secret, err = store.Create(ctx, BenchClient(id))
		if err != nil {
			return client.Client{}, "", false, fmt.Errorf("seed: create the bench client: %w", err)
		}
		return c, secret, true, nil
	case err != nil:
		return client.Client{}, "", false, err
	case cur.ClientName != BenchClientName:
		return cur, "", false, nil
	}
	c, secret, err = store.Update(ctx, BenchClient(id))
	if err != nil {
		return client.Client{}, "", false, fmt.Errorf("seed: update the bench client: %w", err)
	}
	return c, secret, false, nil
}
