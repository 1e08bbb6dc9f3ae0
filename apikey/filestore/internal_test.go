package filestore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/relayauth/relayauth/apikey/apikeytest"
)

// TestReadsReloadOnlyOnChange: a read of an unchanged file does not read
// it again; a read after another store's write does.
func TestReadsReloadOnlyOnChange(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.json")
	a, _ := Open(path)
	defer a.Close()
	b, _ := Open(path)
	defer b.Close()
	k := apikeytest.NewKey("acme", "k", apikeytest.Base())
	if err := a.Create(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, k.ID); err != nil {
		t.Fatalf("another store does not see a write: %v", err)
	}
	loaded := b.mem
	for range 10 {
		b.Get(ctx, k.ID)
		b.List(ctx, "")
	}
	if b.mem != loaded {
		t.Error("reads of an unchanged file read it again")
	}
	if err := a.Create(ctx, apikeytest.NewKey("acme", "k2", apikeytest.Base())); err != nil {
		t.Fatal(err)
	}
	if l, _ := b.List(ctx, ""); len(l) != 2 || b.mem == loaded {
		t.Errorf("after a write elsewhere, List = %d keys, reloaded %v", len(l), b.mem != loaded)
	}
}
