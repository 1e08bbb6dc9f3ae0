package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/relayauth/relayauth/apikey"
)

// Store is an apikey.Store in one JSON file. Make one with Open.
type Store struct {
	path     string // as configured, for messages
	real     string // the file, symlinks resolved
	dir      string
	lockPath string

	mu     sync.Mutex
	mem    *apikey.MemoryStore // the keys as last read or written; never changed in place
	fi     os.FileInfo         // of the file mem came from; nil: no file
	lock   *os.File            // opened at the first write
	closed bool
}

var _ apikey.Store = (*Store)(nil)

// Open returns the store of the file at path, reading it if it exists.
// It refuses (FileError) a file it cannot use, and changes nothing on disk.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("filestore: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &FileError{path, err.Error()}
	}
	real, err := resolve(abs)
	if err != nil {
		return nil, &FileError{path, err.Error()}
	}
	dir := filepath.Dir(real)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, &FileError{path, "its directory " + dir + " does not exist"}
	}
	s := &Store{path: path, real: real, dir: dir, lockPath: real + ".lock", mem: apikey.NewMemoryStore()}
	if err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// resolve follows the symlinks from abs to the file they name, which need
// not exist yet: a link to a file on a volume before the first write.
// Writes rename into that file's directory, so the link keeps pointing at
// it; resolving only links whose target exists would rename over the link
// itself and leave the volume empty.
func resolve(abs string) (string, error) {
	p := abs
	for range 40 {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) || err == nil && fi.Mode()&fs.ModeSymlink == 0 {
			return realDir(p), nil
		}
		if err != nil {
			return "", err
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(realDir(p)), target)
		}
		p = filepath.Clean(target)
	}
	return "", errors.New("too many levels of symbolic links")
}

// realDir is p with the symlinks of its directory resolved, when the
// directory exists (Open reports one that does not).
func realDir(p string) string {
	dir, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil {
		return p
	}
	return filepath.Join(dir, filepath.Base(p))
}

// Path returns the file's path, symlinks resolved.
func (s *Store) Path() string { return s.real }

func (s *Store) bad(problem string) error { return &FileError{s.path, problem} }

// reload makes mem and fi reflect the file, reading it only if it changed
// since it was last read or written. Caller holds mu.
func (s *Store) reload() error {
	f, err := os.Open(s.real)
	if errors.Is(err, fs.ErrNotExist) {
		if s.fi != nil { // deleted by someone: no keys any more
			s.mem, s.fi = apikey.NewMemoryStore(), nil
		}
		return nil
	}
	if err != nil {
		return s.bad(err.Error())
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return s.bad(err.Error())
	}
	switch {
	case !fi.Mode().IsRegular():
		return s.bad("not a regular file")
	case fi.Mode().Perm()&0o077 != 0:
		return s.bad(fmt.Sprintf("permissions %04o are too open: it must be readable and writable by its owner only (chmod 600 %s)", fi.Mode().Perm(), s.path))
	case fi.Size() > MaxFileSize:
		return s.bad(fmt.Sprintf("larger than %d MiB", MaxFileSize>>20))
	}
	if s.fi != nil && unchanged(s.fi, fi) {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return s.bad(err.Error())
	}
	m, err := decode(data)
	if err != nil {
		return s.bad(err.Error())
	}
	s.mem, s.fi = m, fi
	return nil
}

// unchanged reports whether two stats are of the same version of the file.
// Every write is a rename of a new file, so a new version has a new inode;
// size and modification time guard against inode reuse.
func unchanged(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// unavailable wraps an error of the file for callers of the Store methods:
// they fail closed.
func unavailable(err error) error { return fmt.Errorf("%w: %w", apikey.ErrUnavailable, err) }

var errClosed = errors.New("filestore: closed")

// current returns the keys as the file has them now.
func (s *Store) current() (*apikey.MemoryStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, unavailable(errClosed)
	}
	if err := s.reload(); err != nil {
		return nil, unavailable(err)
	}
	return s.mem, nil
}

// errNoChange from a mutate op: success, and nothing to write.
var errNoChange = errors.New("no change")

// mutate applies op to the keys under the lock, re-read from the file
// first, and writes the result if op succeeds. An error of op is returned
// as it is, and nothing is written.
func (s *Store) mutate(ctx context.Context, op func(*apikey.MemoryStore) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return unavailable(errClosed)
	}
	if err := s.lockFile(ctx); err != nil {
		return unavailable(s.bad(err.Error()))
	}
	defer s.unlockFile()
	if err := s.reload(); err != nil {
		return unavailable(err)
	}
	next, err := clone(s.mem)
	if err != nil {
		return unavailable(err)
	}
	if err := op(next); errors.Is(err, errNoChange) {
		return nil
	} else if err != nil {
		return err
	}
	keys, _ := next.List(ctx, "")
	fi, err := s.write(keys)
	if err != nil {
		// mem and fi stay as they were; if the rename happened after
		// all, the next operation sees a new file and reads it.
		return unavailable(s.bad(err.Error()))
	}
	s.mem, s.fi = next, fi
	return nil
}

func clone(m *apikey.MemoryStore) (*apikey.MemoryStore, error) {
	ctx := context.Background()
	keys, _ := m.List(ctx, "")
	out := apikey.NewMemoryStore()
	for _, k := range keys {
		if err := out.Create(ctx, k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// write replaces the file with the document for keys: temporary file,
// sync, rename, sync of the directory. It returns the new file's stat.
func (s *Store) write(keys []apikey.Key) (os.FileInfo, error) {
	data, err := encode(keys)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(s.dir, "."+filepath.Base(s.real)+".tmp-*")
	if err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return nil, err
	}
	if _, err := tmp.Write(data); err != nil {
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		return nil, err
	}
	fi, err := tmp.Stat()
	if err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), s.real); err != nil {
		return nil, err
	}
	done = true
	if err := syncDir(s.dir); err != nil {
		return nil, fmt.Errorf("the file was replaced, but syncing its directory failed: %w", err)
	}
	return fi, nil
}

// Create records a new key.
func (s *Store) Create(ctx context.Context, k apikey.Key) error {
	if err := k.Validate(); err != nil {
		return err // before taking any lock
	}
	return s.mutate(ctx, func(m *apikey.MemoryStore) error { return m.Create(ctx, k) })
}

// Get returns the key with this id.
func (s *Store) Get(ctx context.Context, id string) (apikey.Key, error) {
	if !apikey.ValidID(id) {
		return apikey.Key{}, apikey.ErrNotFound
	}
	m, err := s.current()
	if err != nil {
		return apikey.Key{}, err
	}
	return m.Get(ctx, id)
}

// GetByHash returns the key whose current or previous hash is h.
func (s *Store) GetByHash(ctx context.Context, h apikey.Hash) (apikey.Key, error) {
	m, err := s.current()
	if err != nil {
		return apikey.Key{}, err
	}
	return m.GetByHash(ctx, h)
}

// List returns the keys of tenant ("" for all), oldest first.
func (s *Store) List(ctx context.Context, tenant string) ([]apikey.Key, error) {
	m, err := s.current()
	if err != nil {
		return nil, err
	}
	return m.List(ctx, tenant)
}

// Update applies fn under the file lock: fn runs once.
func (s *Store) Update(ctx context.Context, id string, fn func(*apikey.Key) error) (apikey.Key, error) {
	if !apikey.ValidID(id) {
		return apikey.Key{}, apikey.ErrNotFound
	}
	var out apikey.Key
	err := s.mutate(ctx, func(m *apikey.MemoryStore) error {
		k, err := m.Update(ctx, id, fn)
		out = k
		return err
	})
	return out, err
}

// TouchLastUsed raises LastUsedAt: one write of the file for the batch,
// none when nothing moves.
func (s *Store) TouchLastUsed(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return s.mutate(ctx, func(m *apikey.MemoryStore) error {
		moves := false
		for id, t := range used {
			if k, err := m.Get(ctx, id); err == nil && t.After(k.LastUsedAt) {
				moves = true
				break
			}
		}
		if !moves {
			return errNoChange
		}
		return m.TouchLastUsed(ctx, used)
	})
}

// Delete removes a key.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !apikey.ValidID(id) {
		return apikey.ErrNotFound
	}
	return s.mutate(ctx, func(m *apikey.MemoryStore) error { return m.Delete(ctx, id) })
}

// Ping reports whether the file (or, before the first write, its
// directory) can be used.
func (s *Store) Ping(context.Context) error {
	if _, err := s.current(); err != nil {
		return err
	}
	if st, err := os.Stat(s.dir); err != nil || !st.IsDir() {
		return unavailable(s.bad("its directory is gone"))
	}
	return nil
}

// Close releases the lock file. The store refuses every operation after.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.lock != nil {
		return s.lock.Close()
	}
	return nil
}
