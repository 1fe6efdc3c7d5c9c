package mongo

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/adapters/mongo/mongotest"
	"github.com/colony-live/colony/ports"
)

// TestOpenAuthentication runs against a server with SCRAM authentication
// and its administrator in the admin database, as real MongoDB is set up.
func TestOpenAuthentication(t *testing.T) {
	const user, password = "colony", "s3cret/p@ss:word"
	srv := mongotest.NewAuth(t, user, password)
	host := srv.Addr()
	uri := func(u, p string) string {
		s, err := ParseTarget(host, u, p)
		if err != nil {
			t.Fatalf("ParseTarget: %v", err)
		}
		return s
	}
	tests := []struct {
		name string
		uri  string
		ok   bool
	}{
		// host + user + password: no database in the path, so the
		// driver authenticates against admin, MongoDB's default.
		{"host, user and password", uri(user, password), true},
		{"URI with authSource=admin", "mongodb://" + userinfo(user, password) + host + "/colony?authSource=admin", true},
		{"wrong password", uri(user, "wrong-password"), false},
		{"unknown user", uri("nobody", password), false},
		// A database in the path is the authentication database.
		{"user looked up in another database", "mongodb://" + userinfo(user, password) + host + "/colony", false},
		{"no credentials", uri("", ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := Open(ctx, Config{URI: tt.uri, Database: "authtest", ConnectTimeout: 5 * time.Second})
			if tt.ok {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer s.Close(context.Background())
				if _, err := s.Nodes(ctx); err != nil {
					t.Fatalf("Nodes: %v", err)
				}
				return
			}
			if err == nil {
				s.Close(context.Background())
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrAuth) || errors.Is(err, ports.ErrUnavailable) {
				t.Fatalf("Open = %v; want ErrAuth (and not ErrUnavailable)", err)
			}
			if msg := err.Error(); strings.Contains(msg, "s3cret") || strings.Contains(msg, "wrong-password") { // raw or escaped
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}
