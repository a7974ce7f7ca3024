package demo

import "net/http"

// homeData fills templates/home.html.
type homeData struct {
	Title    string
	Issuer   string
	ClientID string
	Scopes   []string
	IDCard   string // the ID-card scope name, for the checkbox label
	Session  *sessionState
}

// home explains the demo and offers the login, with the variants worth
// showing as query parameters of /demo/login.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	data := homeData{
		Title:    "Demo service",
		Issuer:   h.cfg.Issuer,
		ClientID: h.cfg.ClientID,
		Scopes:   h.cfg.Scopes,
		IDCard:   ScopeIDCard,
	}
	if s, err := h.readSession(r); err == nil {
		data.Session = &s
	}
	h.render(w, http.StatusOK, h.pages.home, data)
}
