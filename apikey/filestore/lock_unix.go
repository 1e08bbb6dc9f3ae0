//go:build unix

package filestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockFile takes the exclusive flock of the lock file, opening it (and
// creating it, mode 0600) the first time. It polls rather than blocks, so
// that ctx bounds the wait: a stuck process holding the lock makes
// writes fail, not hang.
func (s *Store) lockFile(ctx context.Context) error {
	if s.lock == nil {
		f, err := os.OpenFile(s.lockPath, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("opening the lock file: %w", err)
		}
		s.lock = f
	}
	wait := time.Millisecond
	for {
		err := syscall.Flock(int(s.lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("locking %s: %w", s.lockPath, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the lock on %s: %w", s.lockPath, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

func (s *Store) unlockFile() {
	syscall.Flock(int(s.lock.Fd()), syscall.LOCK_UN)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
