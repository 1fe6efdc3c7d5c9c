package mongo

import (
	"errors"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"NoCredentials", "mongodb://h1:27017/db", "mongodb://h1:27017/db"},
		{"UserPassword", "mongodb://u:p@h1:27017/db", "mongodb://REDACTED@h1:27017/db"},
		{"UserOnly", "mongodb://u@h1/", "mongodb://REDACTED@h1/"},
		{"SRV", "mongodb+srv://u:p@c.example.net/?w=1", "mongodb+srv://REDACTED@c.example.net/?w=1"},
		{"AtInQueryHidesMore", "mongodb://u:p@h1/?appname=a@b", "mongodb://REDACTED@b"},
		{"AtAndQuestionInCredentials", "mongodb://a@b:c?d@h1/?w=1", "mongodb://REDACTED@h1/?w=1"},
		{"UnescapedSlashInPassword", "mongodb://u:pa/ss@h1/", "mongodb://REDACTED@h1/"},
		{"UnescapedQuestionInPassword", "mongodb://u:pa?ss@h1/?w=1", "mongodb://REDACTED@h1/?w=1"},
		{"SecretOption", "mongodb://h1/?authMechanismProperties=AWS_SESSION_TOKEN:tok&w=1", "mongodb://h1/?authMechanismProperties=REDACTED&w=1"},
		{"TLSKeyPassword", "mongodb://h1/?tlsCertificateKeyFilePassword=kp", "mongodb://h1/?tlsCertificateKeyFilePassword=REDACTED"},
		{"NoScheme", "u:p@h1", "REDACTED@h1"},
		{"Empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Redact(tt.in); got != tt.want {
				t.Fatalf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzRedact(f *testing.F) {
	f.Add("colony", "secret-pw", "h1:27017", "db?w=1")
	f.Add("a", "p@ss/w?rd", "[::1]", "")
	f.Fuzz(func(t *testing.T, user, password, hosts, tail string) {
		if len(password) < 4 || strings.Contains("mongodb://"+hosts+"/"+tail, password) {
			return // the "secret" appears legitimately elsewhere
		}
		uri := "mongodb://" + user + ":" + password + "@" + hosts + "/" + tail
		got := Redact(uri)
		if strings.Contains(strings.Replace(got, redacted+"@", "", 1), password) {
			t.Fatalf("Redact(%q) = %q shows the password", uri, got)
		}
	})
}

func TestWrapScrubsSecrets(t *testing.T) {
	uri := "mongodb://colony:Tr0ub4dor%263@h1/?authMechanismProperties=AWS_SESSION_TOKEN:tok-secret"
	red := newRedactor(uri)
	cause := errors.New("cannot reach " + uri + " as colony with Tr0ub4dor&3 / Tr0ub4dor%263 and tok-secret")
	err := red.wrap("ping", nil, cause)
	for _, secret := range []string{"colony", "Tr0ub4dor", "tok-secret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("wrapped error %q shows %q", err, secret)
		}
	}
	if !errors.Is(err, cause) {
		t.Errorf("wrapped error does not wrap its cause")
	}
}
