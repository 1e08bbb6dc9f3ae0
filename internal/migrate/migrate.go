// Package migrate holds Relay Auth's data migrations, reachable as
// `relayauth migrate NAME` and POST /admin/migrations/{name}. Every
// migration is idempotent (a second run changes nothing) and resumable
// (a run stopped half-way, by a cancelled context or a killed process,
// finishes when run again, losing and duplicating nothing).
package migrate

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
)

// Names of the migrations.
const (
	APIKeysFileToRedis = "apikeys-file-to-redis"
	SchemaV2           = "schema-v2"
)

// Result is what a run did.
type Result struct {
	Name           string `json:"name"`
	Migrated       int    `json:"migrated"`
	Skipped        int    `json:"skipped"`
	OrphansRemoved int    `json:"orphans_removed,omitempty"`
	Resumed        bool   `json:"resumed"`
	Complete       bool   `json:"complete"`
}

// Func runs one migration.
type Func func(ctx context.Context) (Result, error)

// Set is the migrations a deployment can run, by name.
type Set map[string]Func

// ErrUnknown: no migration of that name.
var ErrUnknown = fmt.Errorf("migration %w", relayauth.ErrNotFound)

// ErrNotConfigured: the migration needs stores this deployment lacks.
var ErrNotConfigured = fmt.Errorf("%w: migration not possible with this configuration", relayauth.ErrInvalid)

// Names lists the migrations of s, sorted.
func (s Set) Names() []string {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Run runs the migration called name.
func (s Set) Run(ctx context.Context, name string) (Result, error) {
	f, ok := s[name]
	if !ok {
		return Result{Name: name}, fmt.Errorf("%w: %q (known: %v)", ErrUnknown, name, s.Names())
	}
	r, err := f(ctx)
	r.Name = name
	return r, err
}

// Unavailable is a Func for a migration this deployment cannot run; it
// says why.
func Unavailable(why string) Func {
	return func(context.Context) (Result, error) { return Result{}, fmt.Errorf("%w: %s", ErrNotConfigured, why) }
}

// CopyAPIKeys copies every key record of src into dst: the API key file
// to Redis. A record already in dst under its id is skipped, so the copy
// is idempotent and a stopped run resumes by running it again. A
// different key in dst with the same name in the same tenant is a
// conflict that stops the copy; nothing is overwritten.
func CopyAPIKeys(src, dst apikey.Store) Func {
	return func(ctx context.Context) (Result, error) {
		var r Result
		keys, err := src.List(ctx, "")
		if err != nil {
			return r, fmt.Errorf("reading the source: %w", err)
		}
		for _, k := range keys {
			if err := ctx.Err(); err != nil {
				return r, err
			}
			err := dst.Create(ctx, k)
			switch {
			case err == nil:
				r.Migrated++
			case errors.Is(err, apikey.ErrExists):
				have, gerr := dst.Get(ctx, k.ID)
				if gerr != nil || have.Hash != k.Hash {
					return r, fmt.Errorf("key %s: a different key already holds its id or secret in the destination", k.ID)
				}
				r.Skipped++
				r.Resumed = true
			default:
				return r, fmt.Errorf("key %s (%s/%s): %w", k.ID, k.Tenant, k.Name, err)
			}
		}
		r.Complete = true
		return r, nil
	}
}
