package apikey

import (
	"context"
	"fmt"
	"time"
)

// Store records API keys. Every method is safe for concurrent use and
// returns copies: changing a returned Key changes nothing stored.
//
// Stores keep revoked and expired records (for audit) until Delete; they
// judge neither. Expiry, revocation and rotation grace are the Manager's
// checks.
type Store interface {
	// Create records k after k.Validate. ErrExists if k's id, or either
	// of its hashes, is already some key's id or hash (current or
	// previous); ErrNameTaken if its tenant has a key of that name.
	Create(ctx context.Context, k Key) error
	// Get returns the key with this id, or ErrNotFound.
	Get(ctx context.Context, id string) (Key, error)
	// GetByHash returns the key whose current or previous hash is h, or
	// ErrNotFound.
	GetByHash(ctx context.Context, h Hash) (Key, error)
	// List returns the keys of tenant ("" for every tenant), oldest
	// first (ties by id).
	List(ctx context.Context, tenant string) ([]Key, error)
	// Update applies fn to the key with this id atomically and returns
	// the result: no other write to the key happens between the read fn
	// sees and the write of its result, so two concurrent Updates never
	// lose each other's change. fn may run more than once (a store using
	// optimistic concurrency retries when it loses a race), so it must
	// depend only on its argument and on values fixed before Update. If
	// fn fails, Update returns its error and changes nothing. The result
	// must pass Validate and keep ID, Tenant, Env and CreatedAt
	// (ErrInvalid), and its name and hashes must be free (ErrNameTaken,
	// ErrExists). LastUsedAt never moves back: the stored value is the
	// later of the record's and the result's. ErrNotFound for an unknown
	// id.
	Update(ctx context.Context, id string, fn func(*Key) error) (Key, error)
	// TouchLastUsed raises LastUsedAt of each key in used to the given
	// time, and never lowers it. Ids of keys that are gone are skipped.
	// One call is one batch: stores make it as few writes as they can.
	TouchLastUsed(ctx context.Context, used map[string]time.Time) error
	// Delete removes the key's record and frees its id, hashes and name.
	// ErrNotFound for an unknown id. Revoking keeps the record; deleting
	// is for clean-up after the audit period.
	Delete(ctx context.Context, id string) error
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// CheckUpdate reports what a Store.Update must refuse in next, fn's result
// for the record prev: a changed ID, Tenant, Env or CreatedAt, or a record
// that fails Validate. Every store calls it, so all of them refuse the
// same updates.
func CheckUpdate(prev, next *Key) error {
	switch {
	case next.ID != prev.ID:
		return fmt.Errorf("%w: update may not change the id", ErrInvalid)
	case next.Tenant != prev.Tenant:
		return fmt.Errorf("%w: update may not change the tenant", ErrInvalid)
	case next.Env != prev.Env:
		return fmt.Errorf("%w: update may not change the environment", ErrInvalid)
	case !next.CreatedAt.Equal(prev.CreatedAt):
		return fmt.Errorf("%w: update may not change created_at", ErrInvalid)
	}
	return next.Validate()
}
