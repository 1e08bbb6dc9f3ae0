package main

import (
	"testing"
	"time"
)

// TestCheck is the short version of the chaos run's checker that CI runs:
// every verdict on a hand-made history.
func TestCheck(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	const sla = time.Second
	creds := []credential{
		{kind: "session", created: at(0), revoked: at(1000)}, // 0: revoked
		{kind: "key", created: at(0)},                        // 1: live
		{kind: "session", created: at(0), pending: at(500)},  // 2: revocation answer lost
		{kind: "key", created: at(0), revoked: at(1000)},     // 3: revoked key
		{kind: "session", created: at(3000)},                 // 4: created late
	}
	for _, tc := range []struct {
		name  string
		a     answer
		check func(r report) bool
	}{
		{"200 before the revocation", answer{cred: 0, start: at(900), end: at(901), status: 200}, func(r report) bool { return r.revokedOK == 0 }},
		{"200 within the SLA", answer{cred: 0, start: at(1999), end: at(2000), status: 200}, func(r report) bool { return r.revokedOK == 0 && r.latestRevoked == 999*time.Millisecond }},
		{"200 after the SLA", answer{cred: 0, start: at(2001), end: at(2002), status: 200}, func(r report) bool { return r.revokedOK == 1 }},
		{"revoked key 200 after the SLA", answer{cred: 3, start: at(5000), end: at(5001), status: 200}, func(r report) bool { return r.revokedOK == 1 }},
		{"401 of a live key: lost", answer{cred: 1, start: at(100), end: at(101), status: 401}, func(r report) bool { return r.lost == 1 && r.lostKinds["key"] == 1 }},
		{"503 of a live key: not lost", answer{cred: 1, start: at(100), end: at(101), status: 503}, func(r report) bool { return r.lost == 0 && r.status5xx == 1 }},
		{"401 after a pending revocation: not lost", answer{cred: 2, start: at(600), end: at(601), status: 401}, func(r report) bool { return r.lost == 0 }},
		{"401 before a pending revocation: lost", answer{cred: 2, start: at(100), end: at(101), status: 401}, func(r report) bool { return r.lost == 1 }},
		{"401 before its creation was acknowledged: not lost", answer{cred: 4, start: at(2000), end: at(2001), status: 401}, func(r report) bool { return r.lost == 0 }},
		{"no answer", answer{cred: 1, start: at(100), end: at(101), status: 0}, func(r report) bool { return r.unreachable == 1 && r.lost == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := check(creds, []answer{tc.a}, sla); !tc.check(r) {
				t.Errorf("%+v", r)
			}
		})
	}
}
