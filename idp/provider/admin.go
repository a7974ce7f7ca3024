package provider

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"eidp/idp/admin"
	"eidp/idp/client"
)

// AdminAuthorize checks an admin API request (idp/admin): a bearer access
// token from the client-credentials grant with scope eidp:admin, of a
// client that is still registered and still marked admin.
func (p *Provider) AdminAuthorize(r *http.Request) (client.Client, error) {
	token, ok := bearer(r)
	if !ok {
		return client.Client{}, errors.New("no bearer token")
	}
	at, g, err := p.parseAccessToken(r.Context(), token)
	if err != nil {
		return client.Client{}, err
	}
	if g != nil || !strings.Contains(" "+at.Scope+" ", " "+scopeAdmin+" ") {
		return client.Client{}, fmt.Errorf("%w: the token lacks scope %s", admin.ErrForbidden, scopeAdmin)
	}
	c, err := p.Clients.Get(r.Context(), at.ClientID)
	if err != nil {
		return client.Client{}, err
	}
	if !c.Admin {
		return client.Client{}, admin.ErrForbidden
	}
	return c, nil
}
