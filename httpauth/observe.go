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

// ObserverContext is a context.Context carrying an Observer. WithObserver
// allocates one; a server may embed one in its per-request state and set
// the fields.
type ObserverContext struct {
	context.Context // the parent: required
	Observer        Observer
}

// Value returns the Observer for this package's key and asks the parent
// for any other.
func (c *ObserverContext) Value(key any) any {
	if key == (observerKey{}) {
		return c.Observer
	}
	return c.Context.Value(key)
}

// WithObserver returns ctx carrying o: the middleware of this package
// reports to it every decision made for requests with that context.
func WithObserver(ctx context.Context, o Observer) context.Context {
	return &ObserverContext{Context: ctx, Observer: o}
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
