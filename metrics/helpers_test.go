package metrics

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// find returns the series of metric name whose label values, in the order
// of their (sorted) label names, are values.
func find(t *testing.T, g prometheus.Gatherer, name string, values ...string) *dto.Metric {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			var got []string
			for _, lp := range s.GetLabel() {
				got = append(got, lp.GetValue())
			}
			if slices.Equal(got, values) {
				return s
			}
		}
	}
	t.Fatalf("no series %s%q", name, values)
	return nil
}

// sample returns the value of a counter or gauge series.
func sample(t *testing.T, g prometheus.Gatherer, name string, values ...string) float64 {
	t.Helper()
	s := find(t, g, name, values...)
	if c := s.GetCounter(); c != nil {
		return c.GetValue()
	}
	return s.GetGauge().GetValue()
}

func histogram(t *testing.T, g prometheus.Gatherer, name string, values ...string) *dto.Histogram {
	t.Helper()
	h := find(t, g, name, values...).GetHistogram()
	if h == nil {
		t.Fatalf("%s is not a histogram", name)
	}
	return h
}

// cumulative returns the count of the bucket whose upper bound is le.
func cumulative(t *testing.T, buckets []*dto.Bucket, le float64) uint64 {
	t.Helper()
	for _, b := range buckets {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	t.Fatalf("no bucket le=%v", le)
	return 0
}

// seriesCount counts every series g exposes (a histogram is one).
func seriesCount(t *testing.T, g prometheus.Gatherer) int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
	}
	return n
}
