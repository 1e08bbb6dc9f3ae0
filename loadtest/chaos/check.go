package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// credential is a session or an API key the run made, as the checker
// knows it.
type credential struct {
	kind    string // "session" or "key"
	created time.Time
	// revoked is when the revocation that covers it was acknowledged
	// (zero: never); pending from when a revocation that may cover it
	// was sent (a revocation whose answer was lost, or one sent while
	// the credential's creation was in flight): its answers prove
	// nothing either way from then on.
	revoked, pending time.Time
}

// answer is one probe: a credential presented to an instance.
type answer struct {
	cred       int
	instance   int
	start, end time.Time
	status     int // 0: no answer (instance down, connection refused)
}

// report is what the checker finds in a run.
type report struct {
	probes        int
	revokedOK     int // revoked credential answered 200 after the SLA: must be 0
	revokedOKIDs  []string
	lost          int // live, acknowledged credential answered 401 (not 503): lost
	lostKinds     map[string]int
	status5xx     int
	unreachable   int
	byStatus      map[int]int
	latestRevoked time.Duration // longest time from a revocation's ack to the last 200 seen for it
}

// check judges every answer against what was acknowledged, with the
// revocation SLA.
func check(creds []credential, answers []answer, sla time.Duration) report {
	r := report{lostKinds: map[string]int{}, byStatus: map[int]int{}}
	for _, a := range answers {
		r.probes++
		r.byStatus[a.status]++
		c := creds[a.cred]
		switch {
		case a.status == 0:
			r.unreachable++
		case a.status >= 500:
			r.status5xx++
		case a.status == http.StatusOK && !c.revoked.IsZero():
			if late := a.start.Sub(c.revoked); late > r.latestRevoked {
				r.latestRevoked = late
			}
			if a.start.After(c.revoked.Add(sla)) {
				r.revokedOK++
				if len(r.revokedOKIDs) < 10 {
					r.revokedOKIDs = append(r.revokedOKIDs, fmt.Sprintf("%s #%d at +%v", c.kind, a.cred, a.start.Sub(c.revoked)))
				}
			}
		case a.status == http.StatusUnauthorized && c.revoked.IsZero() &&
			(c.pending.IsZero() || a.end.Before(c.pending)) && a.start.After(c.created):
			r.lost++
			r.lostKinds[c.kind]++
		}
	}
	return r
}

func (r report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "probes: %d\n", r.probes)
	fmt.Fprintf(&b, "revoked credentials answered 200 after the SLA: %d %v\n", r.revokedOK, r.revokedOKIDs)
	fmt.Fprintf(&b, "latest 200 after a revocation's acknowledgement: %v\n", r.latestRevoked.Round(time.Millisecond))
	fmt.Fprintf(&b, "acknowledged credentials lost (401 while live): %d %v\n", r.lost, r.lostKinds)
	fmt.Fprintf(&b, "5xx answers: %d; no answer (instance down): %d\n", r.status5xx, r.unreachable)
	codes := make([]int, 0, len(r.byStatus))
	for c := range r.byStatus {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		fmt.Fprintf(&b, "  status %d: %d\n", c, r.byStatus[c])
	}
	return b.String()
}
