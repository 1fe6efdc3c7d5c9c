package mongo

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/x/mongo/driver/connstring"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		name, target, user, password string
		want                         string // "" means an error wrapping ErrBadTarget
	}{
		{"Host", "db1", "", "", "mongodb://db1:27017/"},
		{"HostTrimmed", "  db1.example.com ", "", "", "mongodb://db1.example.com:27017/"},
		{"IPv4", "10.0.0.5", "", "", "mongodb://10.0.0.5:27017/"},
		{"IPv6", "::1", "", "", "mongodb://[::1]:27017/"},
		{"IPv6Bracketed", "[::1]", "", "", "mongodb://[::1]:27017/"},
		{"HostPort", "db1:27018", "", "", "mongodb://db1:27018/"},
		{"IPv6Port", "[fe80::1]:27018", "", "", "mongodb://[fe80::1]:27018/"},
		{"HostUserPassword", "db1", "colony", "pw", "mongodb://colony:pw@db1:27017/"},
		{"UserOnly", "db1:1", "colony", "", "mongodb://colony@db1:1/"},
		{"EscapedCredentials", "db1", "a@b:c/d", "p@ss:w/o?r#d%[]", "mongodb://a%40b%3Ac%2Fd:p%40ss%3Aw%2Fo%3Fr%23d%25%5B%5D@db1:27017/"},
		{"URI", "mongodb://h1:1,h2:2/db?replicaSet=rs0", "", "", "mongodb://h1:1,h2:2/db?replicaSet=rs0"},
		{"URIWithCredentials", "mongodb://u:p@h1/", "", "", "mongodb://u:p@h1/"},
		{"URIPlusUser", "mongodb://h1:1,h2:2/?replicaSet=rs0", "u", "p w", "mongodb://u:p%20w@h1:1,h2:2/?replicaSet=rs0"},
		{"SRV", "mongodb+srv://cluster0.example.net/?retryWrites=true", "u", "p", "mongodb+srv://u:p@cluster0.example.net/?retryWrites=true"},
		{"SchemeCase", "MongoDB://h1", "", "", "mongodb://h1"},
		{"Empty", "  ", "", "", ""},
		{"PasswordWithoutUser", "db1", "", "pw", ""},
		{"CredentialsTwice", "mongodb://u:p@h1/", "v", "q", ""},
		{"URINoHost", "mongodb:///db", "", "", ""},
		{"OtherScheme", "http://db1", "", "", ""},
		{"BadPort", "db1:99999", "", "", ""},
		{"ZeroPort", "db1:0", "", "", ""},
		{"NoPort", "db1:", "", "", ""},
		{"Path", "db1/x", "", "", ""},
		{"At", "u@db1", "", "", ""},
		{"Comma", "db1,db2", "", "", ""},
		{"TwoColons", "a:b:c", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTarget(tt.target, tt.user, tt.password)
			if tt.want == "" {
				if !errors.Is(err, ErrBadTarget) {
					t.Fatalf("ParseTarget = %q, %v; want an ErrBadTarget", got, err)
				}
				if tt.password != "" && strings.Contains(err.Error(), tt.password) {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseTarget = %q, %v; want %q", got, err, tt.want)
			}
			if strings.HasPrefix(got, "mongodb+srv://") {
				return // parsing would look the SRV record up
			}
			cs, err := connstring.ParseAndValidate(got)
			if err != nil {
				t.Fatalf("the driver rejects %q: %v", got, err)
			}
			if tt.user != "" && (cs.Username != tt.user || cs.Password != tt.password) {
				t.Errorf("the driver reads user %q password %q, want %q %q", cs.Username, cs.Password, tt.user, tt.password)
			}
		})
	}
}

func FuzzParseTarget(f *testing.F) {
	f.Add("db1", "colony", "secret")
	f.Add("[::1]:27018", "a@b", "p:w/d?#%")
	f.Add("mongodb://h1,h2/?replicaSet=x", "user", "pass word")
	f.Add("10.0.0.1:1", "", "")
	f.Fuzz(func(t *testing.T, target, user, password string) {
		got, err := ParseTarget(target, user, password)
		if err != nil {
			// The error quotes the target (%q), whose escapes may spell the
			// password's characters without it being there.
			quoted := strconv.Quote(target)
			if len(password) >= 4 && !strings.Contains(quoted, password) && strings.Contains(err.Error(), password) {
				t.Fatalf("error %q shows the password", err)
			}
			return
		}
		red := Redact(got)
		if user != "" && len(password) >= 4 && !strings.Contains(target, password) && strings.Contains(red, password) {
			t.Fatalf("Redact(%q) = %q shows the password", got, red)
		}
		if strings.Contains(got, "://") && strings.HasPrefix(got, "mongodb://") && !strings.Contains(target, "://") {
			cs, err := connstring.ParseAndValidate(got)
			if err != nil {
				t.Fatalf("the driver rejects %q built from %q: %v", got, target, err)
			}
			if cs.Username != user || cs.Password != password {
				t.Fatalf("the driver reads %q/%q from %q, want %q/%q", cs.Username, cs.Password, got, user, password)
			}
		}
	})
}
