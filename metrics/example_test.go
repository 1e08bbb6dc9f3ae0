package metrics_test

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relayauth/relayauth/metrics"
)

func Example() {
	reg := prometheus.NewRegistry() // never the global one
	m := metrics.New(reg)

	m.Login(metrics.LoginSuccess)
	m.Login(metrics.LoginBadCredentials)
	m.Login("alice") // not an outcome: counted as "other", never a new series

	var off *metrics.Metrics // metrics off: every method is a no-op
	off.Login(metrics.LoginSuccess)

	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "auth_logins_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			fmt.Printf("%s{outcome=%q} %v\n", mf.GetName(), s.GetLabel()[0].GetValue(), s.GetCounter().GetValue())
		}
	}

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg)) // on an internal listener
	// Output:
	// auth_logins_total{outcome="bad_credentials"} 1
	// auth_logins_total{outcome="error"} 0
	// auth_logins_total{outcome="other"} 1
	// auth_logins_total{outcome="success"} 1
	// auth_logins_total{outcome="throttled"} 0
}
