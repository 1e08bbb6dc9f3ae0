package httpauth

import (
	"context"
	"net/http"

	"github.com/relayauth/relayauth"
)

// Decision is one authentication or authorization outcome.
type Decision struct {
	// Principal is the caller, nil when authentication failed.
	Principal *relayauth.Principal
	// Err is why the request was refused; nil on success.
	Err error
}

// Observer is told of every decision the middleware makes, for audit
// logs and metrics. It must not block.
type Observer func(r *http.Request, d Decision)

type observerKey struct{}

// WithObserver returns ctx carrying o: the middleware of this package
// reports to it every decision made for requests with that context.
func WithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

func hasObserver(r *http.Request) bool {
	o, ok := r.Context().Value(observerKey{}).(Observer)
	return ok && o != nil
}

func observe(r *http.Request, d Decision) {
	if o, ok := r.Context().Value(observerKey{}).(Observer); ok && o != nil {
		o(r, d)
	}
}
