package mongo

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"

	"github.com/colony-live/colony/ports"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"NoDocuments", mongo.ErrNoDocuments, ports.ErrNotFound},
		{"Deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), ports.ErrUnavailable},
		{"Canceled", context.Canceled, nil},
		{"ServerSelection", topology.ServerSelectionError{Wrapped: errors.New("refused")}, ports.ErrUnavailable},
		{"SelectionTimeout", topology.ErrServerSelectionTimeout, ports.ErrUnavailable},
		{"Disconnected", mongo.ErrClientDisconnected, ports.ErrUnavailable},
		{"ShuttingDown", mongo.CommandError{Code: 91, Message: "shutdown in progress"}, ports.ErrUnavailable},
		{"NotPrimary", mongo.CommandError{Code: 10107}, ports.ErrUnavailable},
		{"NetworkLabel", mongo.CommandError{Labels: []string{"NetworkError"}}, ports.ErrUnavailable},
		{"AuthFailed", mongo.CommandError{Code: 18, Message: "auth failed"}, ErrAuth},
		{"Unauthorized", mongo.CommandError{Code: 13, Message: "requires authentication"}, ErrAuth},
		{"DuplicateKey", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000}}}, nil},
		{"Other", errors.New("boom"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.err); got != tt.want {
				t.Fatalf("classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
			// A pointer to the cause is comparable, whatever the driver's error type.
			cause := &causeError{tt.err}
			err := newRedactor("").wrap("op", nil, cause)
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("wrap does not wrap %v: %v", tt.want, err)
			}
			if !errors.Is(err, cause) {
				t.Errorf("wrap does not keep the cause: %v", err)
			}
		})
	}
}

// causeError wraps an error behind a pointer.
type causeError struct{ err error }

func (e *causeError) Error() string { return e.err.Error() }
func (e *causeError) Unwrap() error { return e.err }
