package apikey

import (
	"fmt"

	"github.com/relayauth/relayauth"
)

// Errors of Parse and Manager.Verify. Each wraps relayauth.ErrUnauthenticated
// (a 401); none of their texts, nor any error of this package, contains a
// key.
var (
	// ErrMalformed: not the shape of a Relay Auth API key (prefix,
	// environment, length or alphabet).
	ErrMalformed = fmt.Errorf("malformed API key: %w", relayauth.ErrUnauthenticated)
	// ErrChecksum: the shape is right but the checksum does not match:
	// a typo, a truncated copy, or a guess.
	ErrChecksum = fmt.Errorf("API key checksum mismatch: %w", relayauth.ErrUnauthenticated)
	// ErrWrongEnvironment: a well-formed key of the other environment
	// (an rk_test_ key presented to production, or the reverse).
	ErrWrongEnvironment = fmt.Errorf("API key of another environment: %w", relayauth.ErrUnauthenticated)
	// ErrUnknownKey: well-formed, but no key has this secret.
	ErrUnknownKey = fmt.Errorf("unknown API key: %w", relayauth.ErrUnauthenticated)
	// ErrRevoked: the key was revoked.
	ErrRevoked = fmt.Errorf("API key revoked: %w", relayauth.ErrUnauthenticated)
	// ErrExpired: the key expired, or the secret is a previous one whose
	// rotation grace period has ended.
	ErrExpired = fmt.Errorf("API key expired: %w", relayauth.ErrUnauthenticated)
)

// Errors of the Store and of the Manager's management methods.
var (
	// ErrNotFound: no key has this id (or hash).
	ErrNotFound = fmt.Errorf("API key %w", relayauth.ErrNotFound)
	// ErrExists: Create was given an id or a hash that is already in use.
	ErrExists = fmt.Errorf("API key id or secret already in use: %w", relayauth.ErrConflict)
	// ErrNameTaken: another key of the same tenant has this name.
	ErrNameTaken = fmt.Errorf("API key name already used in this tenant: %w", relayauth.ErrConflict)
	// ErrInactive: Rotate was asked for a key that is revoked or expired;
	// a dead key is never brought back.
	ErrInactive = fmt.Errorf("API key is revoked or expired: %w", relayauth.ErrConflict)
	// ErrInvalid: a request or record the package refuses (see
	// Key.Validate and Manager.Create).
	ErrInvalid = fmt.Errorf("API key: %w", relayauth.ErrInvalid)
	// ErrUnavailable: the store cannot be reached or read. Callers fail
	// closed.
	ErrUnavailable = fmt.Errorf("API key store %w", relayauth.ErrUnavailable)
)
