package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"

	"eidp/idp/account"
	"eidp/idp/claims"
	"eidp/idp/client"
	"eidp/idp/consent"
	"eidp/idp/grant"
	"eidp/idp/interaction"
	"eidp/idp/session"
	"eidp/vault"
	"eidp/vault/attr"
)

var _ interaction.Service = (*Provider)(nil)

func isNotFound(err error) bool { return errors.Is(err, consent.ErrNotFound) }

// pending loads an interactive request of sess's resident.
func (p *Provider) pending(ctx context.Context, id string, sess session.Session) (authzParams, client.Client, error) {
	var a authzParams
	req, err := p.Grants.GetRequest(ctx, id)
	if errors.Is(err, grant.ErrNotFound) || errors.Is(err, grant.ErrExpired) {
		return a, client.Client{}, interaction.ErrNotFound
	}
	if err != nil {
		return a, client.Client{}, err
	}
	if req.Kind != grant.KindInteractive {
		return a, client.Client{}, interaction.ErrNotFound
	}
	if err := json.Unmarshal(req.Params, &a); err != nil {
		return a, client.Client{}, err
	}
	if a.ResidentID == "" || a.ResidentID != sess.ResidentID {
		return a, client.Client{}, interaction.ErrNotFound
	}
	c, err := p.Clients.Get(ctx, req.ClientID)
	if errors.Is(err, client.ErrNotFound) {
		return a, client.Client{}, interaction.ErrNotFound
	}
	return a, c, err
}

func clientInfo(c client.Client, lang string) interaction.Client {
	name, purpose := c.Localized(lang)
	return interaction.Client{ID: c.ClientID, Name: name, Purpose: purpose, LogoURI: c.LogoURI,
		ClientURI: c.ClientURI, PolicyURI: c.PolicyURI, TOSURI: c.TOSURI}
}

// Consent implements interaction.Service.
func (p *Provider) Consent(ctx context.Context, id string, sess session.Session, lang string) (interaction.Prompt, error) {
	a, c, err := p.pending(ctx, id, sess)
	if err != nil {
		return interaction.Prompt{}, err
	}
	pr := interaction.Prompt{ID: id, Client: clientInfo(c, lang), Offline: slices.Contains(a.Scopes, scopeOffline)}
	items := claims.Requested(a.Scopes, a.Claims, c.AllowIDCard)
	var kept map[attr.Name]json.RawMessage
	if slices.ContainsFunc(items, func(it claims.Item) bool { return claims.IsVault(it.Name) }) {
		if kept, err = p.vaultValues(ctx, sess.ResidentID); err != nil {
			return interaction.Prompt{}, err
		}
	}
	for _, it := range items {
		cl := interaction.Claim{Name: it.Name, Essential: it.Essential}
		if name, ok := attr.ByClaim(it.Name); ok {
			cl.Label = attr.Label(name, lang)
			if v, ok := kept[name]; ok {
				cl.Preview = attr.Preview(name, v, lang)
			} else {
				cl.Missing = true
			}
		}
		pr.Claims = append(pr.Claims, cl)
	}
	return pr, nil
}

// Approve implements interaction.Service.
func (p *Provider) Approve(ctx context.Context, id string, sess session.Session, keep []string) (string, error) {
	a, c, err := p.pending(ctx, id, sess)
	if err != nil {
		return "", err
	}
	items := claims.Requested(a.Scopes, a.Claims, c.AllowIDCard)
	var names []string
	for _, it := range items {
		if it.Essential || slices.Contains(keep, it.Name) {
			names = append(names, it.Name)
		}
	}
	if _, err := p.ConsentStore.Save(ctx, consent.Consent{ResidentID: sess.ResidentID, ClientID: c.ClientID,
		Scopes: a.Scopes, Claims: names}); err != nil {
		return "", err
	}
	if err := p.Accounts.Record(ctx, sess.ResidentID, account.KindConsentGiven, clientNames(c)); err != nil {
		p.log.WarnContext(ctx, "recording consent", "err", err)
	}
	redirect, _, err := p.complete(ctx, c, id, a, sess, released(items, names))
	return redirect, err
}

// Deny implements interaction.Service.
func (p *Provider) Deny(ctx context.Context, id string, sess session.Session) (string, error) {
	a, _, err := p.pending(ctx, id, sess)
	if err != nil {
		return "", err
	}
	if err := p.Grants.DeleteRequest(ctx, id); err != nil {
		return "", err
	}
	q := url.Values{"error": {"access_denied"}, "error_description": {"the resident declined"}, "iss": {p.opts.Issuer}}
	if a.State != "" {
		q.Set("state", a.State)
	}
	return appendQuery(a.RedirectURI, q), nil
}

// Consents implements interaction.Service.
func (p *Provider) Consents(ctx context.Context, residentID, lang string) ([]interaction.Consent, error) {
	list, err := p.ConsentStore.List(ctx, residentID)
	if err != nil {
		return nil, err
	}
	var out []interaction.Consent
	for _, cs := range list {
		c, err := p.Clients.Get(ctx, cs.ClientID)
		if errors.Is(err, client.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, interaction.Consent{Client: clientInfo(c, lang), Claims: cs.Claims,
			GrantedAt: cs.CreatedAt, UpdatedAt: cs.UpdatedAt})
	}
	return out, nil
}

// Revoke implements interaction.Service: the consent goes, and with it
// every grant (refresh and access tokens) the client holds for the resident.
func (p *Provider) Revoke(ctx context.Context, residentID, clientID string) error {
	err := p.ConsentStore.Delete(ctx, residentID, clientID)
	if errors.Is(err, consent.ErrNotFound) {
		return interaction.ErrNotFound
	}
	if err != nil {
		return err
	}
	if _, err := p.Grants.RevokeForClient(ctx, residentID, clientID, "consent_withdrawn"); err != nil {
		return err
	}
	detail := map[string]string{"client": clientID}
	if c, err := p.Clients.Get(ctx, clientID); err == nil {
		detail = clientNames(c)
	}
	if err := p.Accounts.Record(ctx, residentID, account.KindConsentWithdrawn, detail); err != nil {
		p.log.WarnContext(ctx, "recording consent withdrawal", "err", err)
	}
	return nil
}

// clientNames is the activity-log detail naming a service in both
// languages (names of services, never personal data).
func clientNames(c client.Client) map[string]string {
	en, _ := c.Localized("en")
	zh, _ := c.Localized("zh-Hant")
	return map[string]string{"client": en, "client_zh": zh}
}

// vaultValues is what the resident keeps in the vault, for consent
// previews (nil without a vault or after an erasure).
func (p *Provider) vaultValues(ctx context.Context, residentID string) (map[attr.Name]json.RawMessage, error) {
	if p.Vault == nil {
		return nil, nil
	}
	attrs, err := p.Vault.Get(ctx, residentID)
	if errors.Is(err, vault.ErrErased) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[attr.Name]json.RawMessage, len(attrs))
	for _, a := range attrs {
		out[attr.Name(a.Name)] = a.Value
	}
	return out, nil
}
