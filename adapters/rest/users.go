package rest

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
)

// User is Ant Media's User JSON, as the login takes it.
type User struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// authenticate answers POST /rest/v2/users/authenticate: with the
// configured admin user and password it returns a Result whose dataId is a
// JWT (HS256, signed with rest.jwt_secret, expiring after the login TTL) to
// send as "Authorization: Bearer <JWT>". Wrong credentials: 401; after
// AccessConfig.LoginFailures of them from one client address, 429 with
// Retry-After until LoginBackoff gives it another try.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) {
	if s.access.user == "" {
		fail(w, http.StatusForbidden, "login is not configured (rest.admin_user, rest.admin_password, rest.jwt_secret)")
		return
	}
	now, client := s.cfg.Now(), s.access.clientAddr(r)
	if wait := s.failures.wait(client, now); wait > 0 {
		tooMany(w, wait)
		return
	}
	var u User
	if err := decodeBody(w, r, &u); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if !sameSecret(u.Email, s.access.user) || !sameSecret(u.Password, s.access.password) {
		s.failures.fail(client, now)
		s.log.Warn("REST login refused", "user", u.Email, "remote", r.RemoteAddr, "client", client)
		writeJSON(w, http.StatusUnauthorized, Result{Success: false, Message: "wrong user or password", ErrorID: http.StatusUnauthorized})
		return
	}
	tok, err := s.access.signLogin(s.access.user, s.cfg.Now())
	if err != nil {
		fail(w, http.StatusInternalServerError, "cannot sign token")
		return
	}
	writeJSON(w, http.StatusOK, Result{Success: true, Message: "ADMIN", DataID: tok})
}

// sameSecret compares in constant time (hashing first so that lengths do not leak).
func sameSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
