package redisstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/internal/testredis"
)

// TestChangeSurvivesWriterDeath: A revokes, rotates (grace 0) or deletes a
// key that B holds, and A dies (testredis.Die: every connection cut, as
// at a SIGKILL) at each step of the change: before or after Redis ran the
// intent, the write, or the announcement. Whatever the instant, within
// the revocation SLA (B's freshness window) B answers for the old secret
// what Redis holds: a change that Redis recorded — acknowledged to A's
// caller or not — is never missed, and an acknowledged change is always
// recorded.
func TestChangeSurvivesWriterDeath(t *testing.T) {
	addr := testredis.Addr(t)
	direct := client(t)
	for _, script := range []*redis.Script{createScript, updateScript, deleteScript, releaseScript, notifyScript, intentScript} {
		if err := script.Load(ctx, direct).Err(); err != nil {
			t.Fatal(err)
		}
	}
	const sla = time.Second
	steps := []struct {
		name   string
		script *redis.Script
	}{{"intent", intentScript}, {"write", nil}, {"announcement", notifyScript}}
	for _, op := range []string{"Revoke", "Rotate", "Delete"} {
		for _, step := range steps {
			for _, ran := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/ran=%v", op, step.name, ran)
				t.Run(name, func(t *testing.T) {
					prefix := testredis.Prefix(t)
					script := step.script
					if script == nil {
						script = updateScript
						if op == "Delete" {
							script = deleteScript
						}
					}
					paddr, died := testredis.Die(t, addr, []byte(script.Hash()), ran)
					a := mortal(t, paddr, prefix, apikey.WithFreshness(sla))
					b, _ := instance(t, addr, prefix, apikey.WithFreshness(sla))
					k, old, err := a.Create(ctx, apikey.CreateRequest{Name: "deploy", Tenant: "acme"})
					if err != nil {
						t.Fatal(err)
					}
					eventually(t, 5*time.Second, "B accepts the key", func() bool {
						_, err := b.Verify(ctx, old.Reveal())
						return err == nil
					})
					switch op {
					case "Revoke":
						err = a.Revoke(ctx, k.ID)
					case "Rotate":
						_, _, err = a.Rotate(ctx, k.ID, 0)
					case "Delete":
						err = a.Delete(ctx, k.ID)
					}
					if !died() {
						t.Fatalf("A did not die at the %s (err %v)", step.name, err)
					}
					acknowledged := err == nil

					// What Redis holds, read by a store of its own.
					reader := newStore(t, direct, prefix)
					rec, rerr := reader.Get(ctx, k.ID)
					var want error
					switch {
					case errors.Is(rerr, apikey.ErrNotFound):
						want = apikey.ErrUnknownKey
					case rerr != nil:
						t.Fatal(rerr)
					case rec.Revoked():
						want = apikey.ErrRevoked
					case rec.Hash != apikey.HashOf(old.Reveal()):
						want = apikey.ErrUnknownKey // rotated away
					}
					if acknowledged && want == nil {
						t.Fatalf("%s acknowledged, but Redis does not hold it", op)
					}
					if want == nil {
						// Nothing recorded: B keeps the key, after the SLA too.
						time.Sleep(sla + sla/4)
						if _, err := b.Verify(ctx, old.Reveal()); err != nil {
							t.Errorf("B refuses a key whose change Redis never recorded: %v", err)
						}
						return
					}
					took := refusedOn(t, b, old.Reveal(), want, sla)
					t.Logf("acknowledged=%v; B refused %v after A died", acknowledged, took)
				})
			}
		}
	}
}

// mortal is A: a Manager whose client reaches Redis at addr (a proxy that
// kills it), with no retries; it leaves the test's keys to B's clean-up.
func mortal(t *testing.T, addr, prefix string, opts ...apikey.Option) *apikey.Manager {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	s, err := New(ctx, c, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	m, err := apikey.NewManager(s, apikey.EnvLive, append([]apikey.Option{quiet()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// mute is the store of a writer that dies right after its write: every
// announcement after the write is lost, and none is ever retried through.
type mute struct{ *Store }

func (mute) Notify(context.Context, string, time.Time) error { return errors.New("the writer died") }

// TestChangeSurvivesWriterDeathCluster: on a real Redis Cluster, where the
// key's record and the change log are in different slots, a revocation,
// rotation or deletion whose writer never announces it (it died after the
// write) reaches another instance within the SLA.
func TestChangeSurvivesWriterDeathCluster(t *testing.T) {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testredis.Cluster(t)})
	t.Cleanup(func() { c.Close() })
	const sla = time.Second
	for _, op := range []string{"Revoke", "Rotate", "Delete"} {
		t.Run(op, func(t *testing.T) {
			prefix := testredis.Prefix(t)
			a, err := apikey.NewManager(mute{newStore(t, c, prefix)}, apikey.EnvLive, quiet(), apikey.WithFreshness(sla))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			b, err := apikey.NewManager(newStore(t, c, prefix), apikey.EnvLive, quiet(), apikey.WithFreshness(sla))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			k, old, err := a.Create(ctx, apikey.CreateRequest{Name: "deploy", Tenant: "acme"})
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "B accepts the key", func() bool {
				_, err := b.Verify(ctx, old.Reveal())
				return err == nil
			})
			want := apikey.ErrUnknownKey
			switch op {
			case "Revoke":
				err, want = a.Revoke(ctx, k.ID), apikey.ErrRevoked
			case "Rotate":
				_, _, err = a.Rotate(ctx, k.ID, 0)
			case "Delete":
				err = a.Delete(ctx, k.ID)
			}
			if err != nil {
				t.Fatalf("%s: %v", op, err)
			}
			took := refusedOn(t, b, old.Reveal(), want, sla)
			t.Logf("%s never announced, refused on B %v after it returned", op, took)
		})
	}
}
