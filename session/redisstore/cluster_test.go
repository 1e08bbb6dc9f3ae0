package redisstore

import (
	"fmt"
	"os/exec"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/internal/testredis"
	"github.com/relayauth/relayauth/session"
	"github.com/relayauth/relayauth/session/sessiontest"
)

// TestConformanceCluster runs the whole suite on a real 3-master Redis
// Cluster: every multi-key step must stay within one hash slot.
func TestConformanceCluster(t *testing.T) {
	addrs := testredis.Cluster(t)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { c.Close() })
	sessiontest.RunTests(t, func(t *testing.T) session.Store {
		return newStore(t, c, WithPrefix(testredis.Prefix(t)))
	})
}

// TestSlotMigrationKeepsSessions reshards a live cluster — a third of the
// slots moved from one master to another — while sessions are read and
// rotated, and then finds every session intact.
func TestSlotMigrationKeepsSessions(t *testing.T) {
	addrs := testredis.StartCluster(t, 3)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, MaxRedirects: 16})
	t.Cleanup(func() { c.Close() })
	s := newStore(t, c, WithPrefix(testredis.Prefix(t)))
	now := soon()
	var all []session.Session
	for i := range 300 {
		x := mk(t, fmt.Sprintf("tenant-%d", i%7), fmt.Sprintf("user-%d", i%50), now)
		if err := s.Create(ctx, x); err != nil {
			t.Fatal(err)
		}
		all = append(all, x)
	}

	from, err := testredis.CLI(addrs[0], "cluster", "myid")
	if err != nil {
		t.Fatal(err)
	}
	to, err := testredis.CLI(addrs[1], "cluster", "myid")
	if err != nil {
		t.Fatal(err)
	}
	// Traffic during the move: reads and rotations of every session.
	stop := make(chan struct{})
	errs := make(chan error, 1)
	rotated := make([]string, len(all))
	for i := range all {
		rotated[i] = all[i].RefreshID
	}
	go func() {
		defer close(errs)
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			i := n % len(all)
			if _, err := s.Get(ctx, all[i].ID, now); err != nil {
				errs <- fmt.Errorf("Get %d during the reshard: %w", i, err)
				return
			}
			next := id(t)
			if _, err := s.Rotate(ctx, all[i].ID, rotated[i], next, now, all[i].ExpiresAt); err != nil {
				errs <- fmt.Errorf("Rotate %d during the reshard: %w", i, err)
				return
			}
			rotated[i] = next
		}
	}()
	out, err := exec.Command("redis-cli", "--cluster", "reshard", addrs[0], "--cluster-from", from, "--cluster-to", to,
		"--cluster-slots", "2000", "--cluster-yes").CombinedOutput()
	close(stop)
	if err != nil {
		t.Fatalf("reshard: %v\n%s", err, out)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	for i, x := range all {
		got, err := s.Get(ctx, x.ID, now)
		if err != nil {
			t.Fatalf("session %d lost by the reshard: %v", i, err)
		}
		if got.RefreshID != rotated[i] {
			t.Fatalf("session %d: rotation lost by the reshard", i)
		}
		if err := s.Check(ctx, x.ID, now); err != nil {
			t.Fatalf("session %d: Check after the reshard: %v", i, err)
		}
	}
	list, err := s.List(ctx, session.Filter{}, now)
	if err != nil || len(list) != len(all) {
		t.Fatalf("List after the reshard: %d sessions (%v), want %d", len(list), err, len(all))
	}
}
