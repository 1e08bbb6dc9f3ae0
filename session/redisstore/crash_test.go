package redisstore

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/internal/testredis"
	"github.com/relayauth/relayauth/session"
)

// TestRevocationSurvivesRevokerDeath is the session side of the API keys'
// TestChangeSurvivesWriterDeath: A revokes a session that B holds in its
// mirror (one session, its tenant, or by reusing its refresh token) and
// dies (testredis.Die: every connection cut, as at a SIGKILL) before or
// after Redis ran each step of the revocation. Whenever Redis recorded the
// revocation — acknowledged to A's caller or not — B refuses the session
// within the SLA (B's freshness window); an acknowledged revocation is
// always recorded.
func TestRevocationSurvivesRevokerDeath(t *testing.T) {
	addr := testredis.Addr(t)
	direct := client(t)
	for _, script := range []*redis.Script{createScript, rotateScript, revokeScript, coveredScript, indexScript, epochScript} {
		if err := script.Load(ctx, direct).Err(); err != nil {
			t.Fatal(err)
		}
	}
	const sla = time.Second
	for _, tc := range []struct {
		op, step string
		trigger  []byte
	}{
		// Revoke logs the revocation, then deletes and publishes in one script.
		{"Revoke", "log", []byte("xadd")},
		{"Revoke", "script", []byte(revokeScript.Hash())},
		// RevokeTenant raises the epoch and publishes in one script.
		{"RevokeTenant", "epoch", []byte(epochScript.Hash())},
		// A reuse revokes, publishes and logs in the rotate script (but on
		// a Cluster, where it logs in a second step).
		{"Reuse", "script", []byte(rotateScript.Hash())},
	} {
		for _, ran := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/%s/ran=%v", tc.op, tc.step, ran), func(t *testing.T) {
				prefix := testredis.Prefix(t)
				paddr, died := testredis.Die(t, addr, tc.trigger, ran)
				ac := redis.NewClient(&redis.Options{Addr: paddr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
				t.Cleanup(func() { ac.Close() })
				a, err := New(ctx, ac, WithPrefix(prefix), WithFreshness(sla))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { a.Close() })
				b := newStore(t, direct, WithPrefix(prefix), WithFreshness(sla))
				now := time.Now()
				x := mk(t, "acme", "alice", now)
				if err := b.Create(ctx, x); err != nil {
					t.Fatal(err)
				}
				if err := b.Check(ctx, x.ID, now); err != nil {
					t.Fatal(err)
				}
				switch tc.op {
				case "Revoke":
					err = a.Revoke(ctx, x.ID)
				case "RevokeTenant":
					_, err = a.RevokeTenant(ctx, "acme", time.Now())
				case "Reuse":
					_, err = a.Rotate(ctx, x.ID, "not-the-refresh-id", id(t), time.Now(), now.Add(time.Hour))
					if errors.Is(err, session.ErrRefreshReused) {
						err = nil // the revocation this op makes
					}
				}
				if !died() {
					t.Fatalf("A did not die at the %s (err %v)", tc.step, err)
				}
				acknowledged := err == nil
				// What Redis holds, read by a store of its own.
				reader := newStore(t, direct, WithPrefix(prefix))
				_, gerr := reader.Get(ctx, x.ID, time.Now())
				switch {
				case errors.Is(gerr, session.ErrNotFound):
				case gerr != nil:
					t.Fatal(gerr)
				default:
					if acknowledged {
						t.Fatalf("%s acknowledged, but Redis does not hold it", tc.op)
					}
					return // not recorded: nothing to propagate
				}
				// Recorded, so reconcilable without its message too: a
				// store whose subscription was down when it went out
				// finds it in the log (an epoch for RevokeTenant).
				if tc.op != "RevokeTenant" {
					log := direct.XRange(ctx, reader.keys.revokedLog(), "-", "+").Val()
					if !slices.ContainsFunc(log, func(m redis.XMessage) bool { return m.Values["id"] == x.ID }) {
						t.Fatalf("%s: Redis holds the revocation but the log does not: %v", tc.op, log)
					}
				}
				start := time.Now()
				for {
					err := b.Check(ctx, x.ID, time.Now())
					if errors.Is(err, session.ErrNotFound) {
						break
					}
					if time.Since(start) > sla {
						t.Fatalf("B still answers %v %v after A died; Redis holds the revocation", err, sla)
					}
					time.Sleep(time.Millisecond)
				}
				t.Logf("acknowledged=%v; B refused %v after A died", acknowledged, time.Since(start))
			})
		}
	}
}
