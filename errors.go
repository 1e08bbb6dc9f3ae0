package relayauth

import "errors"

// Sentinel errors shared by every package. Wrap them with %w and test them
// with errors.Is; the HTTP layer maps each to exactly one status code.
var (
	// ErrUnauthenticated: no credentials, or credentials that do not verify.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: authenticated, but not allowed.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: no such object, or one the caller may not see.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object already exists or changed under the caller.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the request is malformed.
	ErrInvalid = errors.New("invalid request")
	// ErrUnavailable: a backing store cannot be reached; callers fail closed.
	ErrUnavailable = errors.New("temporarily unavailable")
)

// Errors for requests the server refuses before looking at them closely.
var (
	// ErrTooLarge: the body or a header is over its limit.
	ErrTooLarge = errors.New("request too large")
	// ErrUnsupportedMediaType: the body is not of the type the endpoint takes.
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrThrottled: too many attempts; retry later.
	ErrThrottled = errors.New("too many requests")
	// ErrTimeout: the request (its body) did not arrive in time.
	ErrTimeout = errors.New("request timeout")
)
