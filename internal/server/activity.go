package server

import (
	"sync"
	"time"
)

// activityMinutes is how far back the activity chart looks: one bucket
// per minute, so the memory it takes is fixed whatever the traffic.
const activityMinutes = 60

// activityKind is what the activity ring counts.
type activityKind int

const (
	activityLogin      activityKind = iota // a successful password login
	activityFailure                        // a refused login: bad credentials or throttled
	activityRevocation                     // a session ended by revocation (one per session)
)

// activityBucket is one minute of counts.
type activityBucket struct {
	Minute      int64 // Unix minute; buckets of other minutes are stale
	Logins      int
	Failures    int
	Revocations int
}

// activity is a ring of per-minute counters for the console's overview
// chart: logins, failed logins and revocations over the last hour. It
// holds activityMinutes buckets and nothing else, so it is bounded
// whatever happens; a bucket is reused when its minute comes round again.
type activity struct {
	mu      sync.Mutex
	buckets [activityMinutes]activityBucket
}

// add counts n events of kind at now.
func (a *activity) add(now time.Time, kind activityKind, n int) {
	if n <= 0 {
		return
	}
	minute := now.Unix() / 60
	a.mu.Lock()
	defer a.mu.Unlock()
	b := &a.buckets[minute%activityMinutes]
	if b.Minute != minute {
		*b = activityBucket{Minute: minute}
	}
	switch kind {
	case activityLogin:
		b.Logins += n
	case activityFailure:
		b.Failures += n
	case activityRevocation:
		b.Revocations += n
	}
}

// lastHour returns the activityMinutes minutes up to and including now's,
// oldest first; minutes without events are zero.
func (a *activity) lastHour(now time.Time) []activityBucket {
	current := now.Unix() / 60
	out := make([]activityBucket, activityMinutes)
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range out {
		minute := current - activityMinutes + 1 + int64(i)
		out[i] = activityBucket{Minute: minute}
		if b := a.buckets[minute%activityMinutes]; b.Minute == minute {
			out[i] = b
		}
	}
	return out
}

// revoked records that a revocation of scope ended n sessions: the
// metrics and the activity ring.
func (s *server) revoked(scope string, n int) {
	s.Metrics.Revocation(scope)
	s.Metrics.RevokedSessions(scope, n)
	s.activity.add(s.Now(), activityRevocation, n)
}

// loginFailed records a refused login with its metrics outcome.
func (s *server) loginFailed(outcome string) {
	s.Metrics.Login(outcome)
	s.activity.add(s.Now(), activityFailure, 1)
}
