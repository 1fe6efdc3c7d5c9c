package mongo

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/x/mongo/driver"
	"go.mongodb.org/mongo-driver/x/mongo/driver/auth"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"

	"github.com/colony-live/colony/ports"
)

// ErrAuth is wrapped by the errors of a server that refused the
// credentials (a wrong user or password, or a user unknown in the
// authentication database), or that requires credentials and got none.
var ErrAuth = errors.New("authentication failed")

// storeError is every error the store returns: its message has been scrubbed
// of credentials, and it wraps a ports sentinel (when one applies) and the
// driver's error.
type storeError struct {
	msg  string
	errs []error
}

func (e *storeError) Error() string   { return e.msg }
func (e *storeError) Unwrap() []error { return e.errs }

// redactor scrubs one connection string's secrets out of error messages.
type redactor struct {
	uri     string
	secrets []string
}

func newRedactor(uri string) redactor { return redactor{uri: uri, secrets: secretsOf(uri)} }

// wrap returns err (nil stays nil) as a storeError for operation op, with
// kind as its sentinel; a nil kind is chosen from err by classify.
func (r redactor) wrap(op string, kind, err error) error {
	if err == nil {
		return nil
	}
	if kind == nil {
		kind = classify(err)
	}
	msg := "mongo: " + op + ": "
	errs := []error{err}
	if kind != nil {
		msg += kind.Error() + ": "
		errs = []error{kind, err}
	}
	return &storeError{msg: scrub(msg+err.Error(), r.uri, r.secrets), errs: errs}
}

// classify returns the ports sentinel that err stands for, or nil.
func classify(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return nil // the caller gave up: not the store's fault
	case errors.Is(err, mongo.ErrNoDocuments):
		return ports.ErrNotFound
	case authFailure(err):
		return ErrAuth
	case unavailable(err):
		return ports.ErrUnavailable
	}
	return nil
}

// Server error codes of authentication.
const (
	codeUnauthorized         = 13
	codeAuthenticationFailed = 18
)

// authFailure reports whether err is the server refusing the credentials
// (during the connection handshake) or a command for want of them.
func authFailure(err error) bool {
	var ae *auth.Error
	if errors.As(err, &ae) {
		return true
	}
	var se mongo.ServerError
	if errors.As(err, &se) && (se.HasErrorCode(codeAuthenticationFailed) || se.HasErrorCode(codeUnauthorized)) {
		return true
	}
	var de driver.Error
	return errors.As(err, &de) && (de.Code == codeAuthenticationFailed || de.Code == codeUnauthorized)
}

// unavailableCodes are server error codes that mean "try again later":
// shutdown, step-down, unreachable hosts and timeouts.
var unavailableCodes = []int{6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}

// unavailable reports whether err means the server cannot be reached now.
func unavailable(err error) bool {
	var sse topology.ServerSelectionError
	if mongo.IsTimeout(err) || mongo.IsNetworkError(err) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, mongo.ErrClientDisconnected) ||
		errors.Is(err, topology.ErrTopologyClosed) ||
		errors.Is(err, topology.ErrServerSelectionTimeout) ||
		errors.As(err, &sse) {
		return true
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		for _, c := range unavailableCodes {
			if se.HasErrorCode(c) {
				return true
			}
		}
	}
	return false
}
