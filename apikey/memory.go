package apikey

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemoryStore keeps keys in process memory: for development, tests, and
// as the working set of the file store. Its keys are lost when the
// process ends.
type MemoryStore struct {
	mu     sync.RWMutex
	byID   map[string]*Key
	byHash map[Hash]string // current and previous hashes → id
	byName map[tenantName]string
}

type tenantName struct{ tenant, name string }

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{byID: map[string]*Key{}, byHash: map[Hash]string{}, byName: map[tenantName]string{}}
}

// hashes returns k's current and, when set, previous hash.
func hashes(k *Key) []Hash {
	if k.PrevHash.IsZero() {
		return []Hash{k.Hash}
	}
	return []Hash{k.Hash, k.PrevHash}
}

// Create records a new key.
func (m *MemoryStore) Create(_ context.Context, k Key) error {
	if err := k.Validate(); err != nil {
		return err
	}
	k = k.Clone()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[k.ID]; ok {
		return ErrExists
	}
	for _, h := range hashes(&k) {
		if _, ok := m.byHash[h]; ok {
			return ErrExists
		}
	}
	if _, ok := m.byName[tenantName{k.Tenant, k.Name}]; ok {
		return ErrNameTaken
	}
	m.index(&k)
	return nil
}

func (m *MemoryStore) index(k *Key) {
	m.byID[k.ID] = k
	for _, h := range hashes(k) {
		m.byHash[h] = k.ID
	}
	m.byName[tenantName{k.Tenant, k.Name}] = k.ID
}

func (m *MemoryStore) unindex(k *Key) {
	delete(m.byID, k.ID)
	for _, h := range hashes(k) {
		delete(m.byHash, h)
	}
	delete(m.byName, tenantName{k.Tenant, k.Name})
}

// Get returns the key with this id.
func (m *MemoryStore) Get(_ context.Context, id string) (Key, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	k, ok := m.byID[id]
	if !ok {
		return Key{}, ErrNotFound
	}
	return k.Clone(), nil
}

// GetByHash returns the key whose current or previous hash is h.
func (m *MemoryStore) GetByHash(_ context.Context, h Hash) (Key, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	id, ok := m.byHash[h]
	if !ok || h.IsZero() {
		return Key{}, ErrNotFound
	}
	return m.byID[id].Clone(), nil
}

// List returns the keys of tenant ("" for all), oldest first.
func (m *MemoryStore) List(_ context.Context, tenant string) ([]Key, error) {
	m.mu.RLock()
	out := make([]Key, 0, len(m.byID))
	for _, k := range m.byID {
		if tenant == "" || k.Tenant == tenant {
			out = append(out, k.Clone())
		}
	}
	m.mu.RUnlock()
	SortKeys(out)
	return out, nil
}

// SortKeys sorts keys the way Store.List returns them: by CreatedAt, then
// by ID.
func SortKeys(keys []Key) {
	slices.SortFunc(keys, func(a, b Key) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
}

// Update applies fn under the store's lock: fn runs exactly once.
func (m *MemoryStore) Update(_ context.Context, id string, fn func(*Key) error) (Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.byID[id]
	if !ok {
		return Key{}, ErrNotFound
	}
	next := cur.Clone()
	if err := fn(&next); err != nil {
		return Key{}, err
	}
	if err := CheckUpdate(cur, &next); err != nil {
		return Key{}, err
	}
	for _, h := range hashes(&next) {
		if owner, ok := m.byHash[h]; ok && owner != id {
			return Key{}, ErrExists
		}
	}
	if owner, ok := m.byName[tenantName{next.Tenant, next.Name}]; ok && owner != id {
		return Key{}, ErrNameTaken
	}
	next = next.Clone() // fn may have kept a reference to its slices
	if cur.LastUsedAt.After(next.LastUsedAt) {
		next.LastUsedAt = cur.LastUsedAt
	}
	m.unindex(cur)
	m.index(&next)
	return next.Clone(), nil
}

// TouchLastUsed raises LastUsedAt; it never lowers it.
func (m *MemoryStore) TouchLastUsed(_ context.Context, used map[string]time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, t := range used {
		if k, ok := m.byID[id]; ok && t.After(k.LastUsedAt) && inRange(t) {
			k.LastUsedAt = t
		}
	}
	return nil
}

// Delete removes a key.
func (m *MemoryStore) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.byID[id]
	if !ok {
		return ErrNotFound
	}
	m.unindex(k)
	return nil
}

// Len returns the number of keys held.
func (m *MemoryStore) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.byID)
}

// Ping always succeeds.
func (m *MemoryStore) Ping(context.Context) error { return nil }

// Close does nothing; the keys stay readable.
func (m *MemoryStore) Close() error { return nil }
