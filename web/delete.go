package web

import (
	"errors"
	"net/http"

	"eidp/idp/session"
)

// Deleting the account: the resident's right to erasure. Deps.DeleteAccount
// does the work (sessions ended with back-channel logout, consents and
// tokens withdrawn, vault erased, passkeys and account deleted; the access
// log, which holds no personal values, is kept); these pages explain it,
// ask for an explicit confirmation and clear the browser's session.

// deleteView is the delete page's data.
type deleteView struct {
	Error string // translated, shown at the checkbox
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) (session.Session, bool) {
	if s.DeleteAccount == nil {
		s.notFound(w, r)
		return session.Session{}, false
	}
	return s.requireSession(w, r)
}

func (s *Server) deletePage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.deleteSession(w, r); !ok {
		return
	}
	s.render(w, r, http.StatusOK, "delete", page{Title: "delete.title", Data: deleteView{}})
}

func (s *Server) deleteSubmit(w http.ResponseWriter, r *http.Request) {
	if s.DeleteAccount == nil {
		s.notFound(w, r)
		return
	}
	sess, ok := s.accountForm(w, r)
	if !ok {
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		s.render(w, r, http.StatusUnprocessableEntity, "delete", page{Title: "delete.title",
			Data: deleteView{Error: s.message(r, "delete.confirm_required")}})
		return
	}
	ctx, cancel := actionContext(r)
	defer cancel()
	if err := s.DeleteAccount(ctx, sess.ResidentID); err != nil {
		s.Log.ErrorContext(ctx, "deleting account", "error", err)
		s.errorPage(w, r, http.StatusInternalServerError, "err.generic")
		return
	}
	// DeleteAccount ended every session; this clears the cookie (and ends
	// the session here too, should it have outlived the account).
	if err := s.Sessions.Logout(ctx, w, r); err != nil && !errors.Is(err, session.ErrNoSession) {
		s.Log.ErrorContext(ctx, "logout after account deletion", "error", err)
	}
	s.render(w, r, http.StatusOK, "deleted", page{Title: "deleted.title", Path: "/"})
}
