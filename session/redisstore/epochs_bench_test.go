package redisstore

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/internal/testredis"
)

// BenchmarkEpochs1M measures what 1,000,000 revoked subjects cost, and
// what is left once they are older than the lifetime bound: the heap of a
// store's mirror, the epochs hash in Redis (MEMORY USAGE), the time of a
// full reconciliation read of the hash (every store pays it when the
// epochs' version moves), and the time of Forget's scan. It fills Redis
// with a million fields, so it runs only as a benchmark:
//
//	go test -run '^$' -bench Epochs1M -benchtime 1x ./session/redisstore/
func BenchmarkEpochs1M(b *testing.B) {
	const n = 1_000_000
	const life = time.Hour
	c := redis.NewClient(&redis.Options{Addr: testredis.Addr(b)})
	defer c.Close()
	prefix := testredis.Prefix(b)
	defer dropKeys(b, c, prefix)
	base := time.Now()
	clk := &fakeClock{t: base}
	k := keys{prefix}
	revoked := itoa(base.UnixNano())
	for from := 0; from < n; from += 10_000 {
		args := make([]any, 0, 20_000)
		for i := from; i < from+10_000; i++ {
			args = append(args, subjectField("tenant-"+strconv.Itoa(i%100), "user-"+strconv.Itoa(i)), revoked)
		}
		if err := c.HSet(ctx, k.epochs(), args...).Err(); err != nil {
			b.Fatal(err)
		}
	}
	c.HIncrBy(ctx, k.epochs(), fieldVersion, 1)

	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s, err := New(ctx, c, WithPrefix(prefix), WithNow(clk.Now), WithFreshness(100*time.Hour), WithMaxLifetime(life))
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		owners, _ := s.mirror.t.Scopes()
		if owners != n {
			b.Fatalf("mirror holds %d subjects, want %d", owners, n)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "mirror-bytes/subject")
		redisBytes, _ := c.MemoryUsage(ctx, k.epochs(), 0).Result()
		b.ReportMetric(float64(redisBytes)/n, "redis-bytes/subject")
		b.ReportMetric(reconcile(b, s).Seconds()*1e3, "reconcile-ms")

		clk.Set(base.Add(life + time.Hour))
		start := time.Now()
		if d, err := s.Forget(ctx, clk.Now()); err != nil || d != n {
			b.Fatalf("Forget = %d, %v; want %d", d, err, n)
		}
		b.ReportMetric(time.Since(start).Seconds()*1e3, "forget-ms")
		if owners, _ := s.mirror.t.Scopes(); owners != 0 {
			b.Fatalf("mirror holds %d subjects after Forget", owners)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "mirror-bytes/subject-after")
		b.ReportMetric(reconcile(b, s).Seconds()*1e3, "reconcile-ms-after")
		runtime.KeepAlive(s)
		s.Close()
	}
}

// reconcile times one reconciliation that reads every epoch, as a store
// does when the epochs' version moved.
func reconcile(b *testing.B, s *Store) time.Duration {
	s.refreshMu.Lock()
	s.epochVersion = ""
	s.refreshMu.Unlock()
	start := time.Now()
	if err := s.refresh(ctx); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
