package migrate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/apikey/apikeytest"
)

// failAfter is a destination that fails after n creates: an interrupted run.
type failAfter struct {
	apikey.Store
	n int
}

var errCrash = errors.New("crash")

func (f *failAfter) Create(ctx context.Context, k apikey.Key) error {
	if f.n == 0 {
		return errCrash
	}
	f.n--
	return f.Store.Create(ctx, k)
}

func TestCopyAPIKeysIdempotentAndResumable(t *testing.T) {
	ctx := context.Background()
	src, dst := apikey.NewMemoryStore(), apikey.NewMemoryStore()
	now := time.Now().UTC().Truncate(time.Second)
	for i := range 20 {
		if err := src.Create(ctx, apikeytest.NewKey("acme", "key-"+string(rune('a'+i)), now)); err != nil {
			t.Fatal(err)
		}
	}
	set := Set{APIKeysFileToRedis: CopyAPIKeys(src, &failAfter{Store: dst, n: 7})}
	if _, err := set.Run(ctx, APIKeysFileToRedis); !errors.Is(err, errCrash) {
		t.Fatalf("interrupted run: %v", err)
	}
	set[APIKeysFileToRedis] = CopyAPIKeys(src, dst)
	r, err := set.Run(ctx, APIKeysFileToRedis)
	if err != nil || !r.Complete || r.Migrated != 13 || r.Skipped != 7 || !r.Resumed || r.Name != APIKeysFileToRedis {
		t.Fatalf("resumed run: %+v %v", r, err)
	}
	r, err = set.Run(ctx, APIKeysFileToRedis)
	if err != nil || r.Migrated != 0 || r.Skipped != 20 {
		t.Fatalf("re-run: %+v %v", r, err)
	}
	got, _ := dst.List(ctx, "")
	want, _ := src.List(ctx, "")
	if len(got) != len(want) {
		t.Fatalf("%d keys copied, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Hash != want[i].Hash || got[i].Name != want[i].Name {
			t.Fatalf("key %d differs: %+v vs %+v", i, got[i], want[i])
		}
	}
}

func TestCopyAPIKeysRefusesNameConflict(t *testing.T) {
	ctx := context.Background()
	src, dst := apikey.NewMemoryStore(), apikey.NewMemoryStore()
	now := time.Now().UTC().Truncate(time.Second)
	_ = src.Create(ctx, apikeytest.NewKey("acme", "billing", now))
	other := apikeytest.NewKey("acme", "billing", now)
	_ = dst.Create(ctx, other)
	if _, err := CopyAPIKeys(src, dst)(ctx); !errors.Is(err, apikey.ErrNameTaken) {
		t.Fatalf("want a name conflict, got %v", err)
	}
	if k, _ := dst.Get(ctx, other.ID); k.Hash != other.Hash {
		t.Fatal("the existing key was overwritten")
	}
}

func TestUnknownAndUnavailable(t *testing.T) {
	set := Set{SchemaV2: Unavailable("needs SESSION_STORE_BACKEND=redis")}
	if _, err := set.Run(context.Background(), "drop-everything"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := set.Run(context.Background(), SchemaV2); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("unavailable: %v", err)
	}
}
