package ports

import "errors"

// Sentinel errors shared by every store adapter. Adapters wrap them with %w;
// callers test them with errors.Is.
var (
	// ErrNotFound: the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the store cannot be reached now; the call may succeed later.
	ErrUnavailable = errors.New("store unavailable")
	// ErrConflict: a concurrent writer changed the record; retry.
	ErrConflict = errors.New("concurrent update conflict")
)
