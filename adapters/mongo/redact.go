package mongo

import (
	"net/url"
	"slices"
	"strings"
)

// redacted replaces secrets in URIs and messages.
const redacted = "REDACTED"

// secretOptions are URI options whose values are secrets (compared in lower case).
var secretOptions = []string{
	"authmechanismproperties",
	"tlscertificatekeyfilepassword",
	"sslclientcertificatekeypassword",
	"password",
}

// Redact returns uri with its credentials (user and password) and any secret
// option values replaced by REDACTED, for logs and error messages. It works
// on malformed input too, erring on the side of hiding more.
func Redact(uri string) string {
	prefix, rest := "", uri
	if i := strings.Index(uri, "://"); i >= 0 {
		prefix, rest = uri[:i+3], uri[i+3:]
	}
	if at := userinfoEnd(rest); at >= 0 {
		rest = redacted + "@" + rest[at+1:]
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest = rest[:q+1] + redactOptions(rest[q+1:])
	}
	return prefix + rest
}

// userinfoEnd returns the index of the '@' that ends the userinfo of rest
// (a URI without its scheme), or -1. It takes the last '@' of all: a
// password may hold an unescaped '?' or '/', and an '@' in the options only
// makes Redact hide the hosts too.
func userinfoEnd(rest string) int {
	return strings.LastIndexByte(rest, '@')
}

// redactOptions hides the values of secret options in a raw query string.
func redactOptions(query string) string {
	parts := strings.Split(query, "&")
	for i, p := range parts {
		k, _, ok := strings.Cut(p, "=")
		if ok && slices.Contains(secretOptions, strings.ToLower(k)) {
			parts[i] = k + "=" + redacted
		}
	}
	return strings.Join(parts, "&")
}

// secretsOf returns the strings of uri that must never be shown: the user,
// the password and secret option values, raw and unescaped.
func secretsOf(uri string) []string {
	var out []string
	add := func(s string) {
		if s == "" || slices.Contains(out, s) {
			return
		}
		out = append(out, s)
		if u, err := url.PathUnescape(s); err == nil && u != s && u != "" {
			out = append(out, u)
		}
	}
	rest := uri
	if i := strings.Index(uri, "://"); i >= 0 {
		rest = uri[i+3:]
	}
	// Every '@' might end the userinfo (malformed URIs): hide each reading.
	for at := range len(rest) {
		if rest[at] == '@' {
			user, pass, _ := strings.Cut(rest[:at], ":")
			add(pass)
			add(user)
		}
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		for _, p := range strings.Split(rest[q+1:], "&") {
			k, v, ok := strings.Cut(p, "=")
			if ok && slices.Contains(secretOptions, strings.ToLower(k)) {
				add(v)
				// authMechanismProperties=NAME:value,NAME:value
				for _, prop := range strings.Split(v, ",") {
					_, pv, _ := strings.Cut(prop, ":")
					add(pv)
				}
			}
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// scrub removes uri and its secrets from msg.
func scrub(msg, uri string, secrets []string) string {
	if uri != "" {
		msg = strings.ReplaceAll(msg, uri, Redact(uri))
	}
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, redacted)
	}
	return msg
}
