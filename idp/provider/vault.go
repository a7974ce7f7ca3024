package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"eidp/idp/claims"
	"eidp/idp/client"
	"eidp/idp/consent"
	"eidp/idp/grant"
	"eidp/internal/httpx"
	"eidp/vault"
	"eidp/vault/accesslog"
	"eidp/vault/attr"
)

// vaultRelease is what one response releases from the vault.
type vaultRelease struct {
	claims     map[string]any // claim name → value (and *_verified, eidp_provenance)
	attributes []string       // attribute names released, for the access log
}

// releaseVault reads the vault attributes behind the released vault claims
// among items (only those selected by where), checks that a consent record
// still covers them, and records the release in the access log before
// anything leaves. Nothing is released without a consent record; an
// attribute the resident does not keep is simply absent.
func (p *Provider) releaseVault(ctx context.Context, c client.Client, g grant.Grant, items []claims.Item, locale string,
	where func(claims.Item) bool) (vaultRelease, error) {
	var out vaultRelease
	if p.Vault == nil {
		return out, nil
	}
	byName := map[string]claims.Item{}
	var names []string
	for _, it := range items {
		name, ok := attr.ByClaim(it.Name)
		if !ok || !where(it) {
			continue
		}
		byName[string(name)] = it
		names = append(names, string(name))
	}
	if len(names) == 0 {
		return out, nil
	}
	cons, err := p.ConsentStore.Get(ctx, g.ResidentID, c.ClientID)
	if errors.Is(err, consent.ErrNotFound) {
		return out, errNoConsent
	}
	if err != nil {
		return out, err
	}
	// Only what the consent record names.
	names = slices.DeleteFunc(names, func(n string) bool { return !slices.Contains(cons.Claims, byName[n].Name) })
	if len(names) == 0 {
		return out, nil
	}
	attrs, err := p.Vault.Get(ctx, g.ResidentID, names...)
	if errors.Is(err, vault.ErrErased) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	out.claims = map[string]any{}
	provenance := map[string]any{}
	for _, a := range attrs {
		name := attr.Name(a.Name)
		v, err := attr.ClaimValue(name, a.Value, locale)
		if err != nil {
			return vaultRelease{}, fmt.Errorf("provider: vault attribute %s: %w", a.Name, err)
		}
		claim := attr.ClaimName(name)
		out.claims[claim] = v
		switch claim {
		case "email":
			out.claims["email_verified"] = a.Verified
		case "phone_number":
			out.claims["phone_number_verified"] = a.Verified
		}
		if byName[a.Name].Provenance {
			provenance[claim] = map[string]any{"source": a.Source, "verified": a.Verified, "updated_at": a.UpdatedAt.Unix()}
		}
		out.attributes = append(out.attributes, a.Name)
	}
	if len(provenance) > 0 {
		out.claims["eidp_provenance"] = provenance
	}
	if len(out.attributes) == 0 {
		return out, nil
	}
	name, _ := c.Localized("en")
	if _, err := p.AccessLog.Append(ctx, accesslog.Entry{
		ResidentID: g.ResidentID, ClientID: c.ClientID, ClientName: name, Attributes: out.attributes,
		Consent:   "consent:" + c.ClientID + "@" + strconv.FormatInt(cons.UpdatedAt.UnixMicro(), 10),
		RequestID: httpx.RequestIDFrom(ctx),
	}); err != nil {
		// No record, no release.
		return vaultRelease{}, fmt.Errorf("provider: access log: %w", err)
	}
	return out, nil
}

var errNoConsent = errors.New("provider: no consent record for the release")

// newVaultData reports whether the resident keeps a value for a requested
// vault claim that the consent does not name, stored or changed after the
// consent was last given: the resident has not seen it on a consent page.
// (A value that existed then and is not named was unticked: not asked
// again.)
func (p *Provider) newVaultData(ctx context.Context, residentID string, items []claims.Item, cons consent.Consent) (bool, error) {
	if p.Vault == nil {
		return false, nil
	}
	var names []string
	for _, it := range items {
		if n, ok := attr.ByClaim(it.Name); ok && !slices.Contains(cons.Claims, it.Name) {
			names = append(names, string(n))
		}
	}
	if len(names) == 0 {
		return false, nil
	}
	attrs, err := p.Vault.Get(ctx, residentID, names...)
	if errors.Is(err, vault.ErrErased) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, a := range attrs {
		if a.UpdatedAt.After(cons.UpdatedAt) {
			return true, nil
		}
	}
	return false, nil
}
