package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxScrapesInFlight bounds concurrent scrapes; more are answered 503, so
// a scrape flood cannot pile up goroutines beside the token hot path.
const maxScrapesInFlight = 4

// Handler serves what g gathers in the Prometheus exposition formats. The
// metrics carry no secrets (see the package comment), but their rates are
// operational detail: serve them on an internal listener, not beside the
// public API. A collector that fails makes the scrape fail (HTTP 500)
// rather than silently leaving its metrics out.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.HTTPErrorOnError,
		MaxRequestsInFlight: maxScrapesInFlight,
	})
}
