package mongo

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// DefaultPort is the MongoDB port used when a bare host names none.
const DefaultPort = 27017

// ErrBadTarget is returned (wrapped) by ParseTarget for a target it cannot use.
var ErrBadTarget = errors.New("invalid MongoDB target")

// URI schemes MongoDB connection strings use.
const (
	schemeMongo = "mongodb://"
	schemeSRV   = "mongodb+srv://"
)

// ParseTarget turns what an operator configures into a MongoDB connection
// string. hostOrURI is a bare host name or IP ("db1", "10.0.0.5", "::1"),
// host:port ("db1:27018", "[::1]:27018"), or a full "mongodb://" or
// "mongodb+srv://" URI, which is kept as given. A bare host gets port
// DefaultPort. user and password, when set, are URL-escaped into the URI;
// they may not be combined with a URI that already carries credentials.
// Errors never quote the password.
func ParseTarget(hostOrURI, user, password string) (string, error) {
	target := strings.TrimSpace(hostOrURI)
	if target == "" {
		return "", fmt.Errorf("%w: empty host", ErrBadTarget)
	}
	if user == "" && password != "" {
		return "", fmt.Errorf("%w: a password without a user", ErrBadTarget)
	}
	if scheme, rest, ok := cutScheme(target); ok {
		return withCredentials(scheme, rest, user, password)
	}
	if strings.Contains(target, "://") {
		return "", fmt.Errorf("%w: scheme of %q is not mongodb:// or mongodb+srv://", ErrBadTarget, Redact(target))
	}
	hostPort, err := bareHostPort(target)
	if err != nil {
		return "", err
	}
	return schemeMongo + userinfo(user, password) + hostPort + "/", nil
}

// cutScheme splits a mongodb:// or mongodb+srv:// URI (scheme matched
// case-insensitively) into its scheme and the rest.
func cutScheme(s string) (scheme, rest string, ok bool) {
	for _, sc := range []string{schemeMongo, schemeSRV} {
		if len(s) >= len(sc) && strings.EqualFold(s[:len(sc)], sc) {
			return sc, s[len(sc):], true
		}
	}
	return "", "", false
}

// withCredentials returns the URI scheme+rest with user and password added.
func withCredentials(scheme, rest, user, password string) (string, error) {
	authority, _ := splitAuthority(rest)
	if authority == "" {
		return "", fmt.Errorf("%w: no host in the URI", ErrBadTarget)
	}
	hasCreds := strings.Contains(authority, "@")
	if user == "" {
		return scheme + rest, nil
	}
	if hasCreds {
		return "", fmt.Errorf("%w: credentials both in the URI and given separately", ErrBadTarget)
	}
	return scheme + userinfo(user, password) + rest, nil
}

// splitAuthority splits the part of a URI after the scheme into the
// authority (userinfo and hosts) and what follows it ("/db?options").
func splitAuthority(rest string) (authority, tail string) {
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		return rest[:i], rest[i:]
	}
	return rest, ""
}

// userinfo returns "user:password@" escaped for a URI, or "" without a user.
func userinfo(user, password string) string {
	if user == "" {
		return ""
	}
	if password == "" {
		return url.User(user).String() + "@"
	}
	return url.UserPassword(user, password).String() + "@"
}

// bareHostPort validates a host or host:port and returns host:port, with
// IPv6 addresses bracketed.
func bareHostPort(s string) (string, error) {
	if ip := net.ParseIP(s); ip != nil && strings.Contains(s, ":") {
		return net.JoinHostPort(s, strconv.Itoa(DefaultPort)), nil // bare IPv6
	}
	host, port := s, strconv.Itoa(DefaultPort)
	if strings.HasPrefix(s, "[") || strings.Contains(s, ":") {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
				h, p = s[1:len(s)-1], port
			} else {
				return "", fmt.Errorf("%w: %q is not host or host:port", ErrBadTarget, s)
			}
		}
		host, port = h, p
	}
	if net.ParseIP(host) == nil && !validHostName(host) {
		return "", fmt.Errorf("%w: bad host %q", ErrBadTarget, host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%w: bad port %q", ErrBadTarget, port)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// validHostName reports whether h is made of letters, digits, '.', '-' and '_'.
func validHostName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
