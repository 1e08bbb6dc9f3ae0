package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The hot path: one call per request that presents a credential.
func BenchmarkVerificationCounter(b *testing.B) {
	m := New(prometheus.NewRegistry())
	b.ReportAllocs()
	for b.Loop() {
		m.Verification(MethodAPIKey, VerifyUnavailable) // the last listed values: the longest scans
	}
}

func BenchmarkVerificationCounterParallel(b *testing.B) {
	m := New(prometheus.NewRegistry())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Verification(MethodJWT, VerifySuccess)
		}
	})
}

func BenchmarkObserveVerify(b *testing.B) {
	m := New(prometheus.NewRegistry())
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveVerify(AlgES256, 85*time.Microsecond)
	}
}

func BenchmarkObserveVerifyParallel(b *testing.B) {
	m := New(prometheus.NewRegistry())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveVerify(AlgEdDSA, 40*time.Microsecond)
		}
	})
}

// Metrics off: what the server pays when it is handed a nil *Metrics.
func BenchmarkNilMetrics(b *testing.B) {
	var m *Metrics
	b.ReportAllocs()
	for b.Loop() {
		m.Verification(MethodJWT, VerifySuccess)
		m.ObserveVerify(AlgHS256, time.Microsecond)
	}
}
