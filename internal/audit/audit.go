// Package audit writes Relay Auth's audit trail: one structured slog event
// (msg "audit") per authentication decision, token issue, refresh and
// revocation, API key change, admin operation and failed authorization,
// naming who, in which tenant, did what, with what outcome, from where,
// under which request id. Events carry identifiers, never credentials:
// secrets are relayauth.Secret and redact themselves if passed at all.
package audit

import (
	"context"
	"log/slog"
)

// Outcomes.
const (
	Success = "success"
	Failure = "failure" // the caller could not be authenticated, or the operation failed
	Denied  = "denied"  // authenticated, but not allowed
)

// Event is one audited action.
type Event struct {
	Action      string // e.g. "login", "token.refresh", "session.revoke", "apikey.create"
	Outcome     string // Success, Failure or Denied
	Actor       string // who did it (subject), if known
	ActorTenant string
	Method      string // how the actor authenticated: jwt, api_key, password
	Subject     string // whom it concerned, if not the actor
	Tenant      string
	Target      string // the object: a session id, a key id, a migration name
	Reason      string // why it failed; error texts carry no secrets
	Count       int    // for mass operations
}

// Logger writes events. A nil *Logger discards them.
type Logger struct{ l *slog.Logger }

// New returns a Logger writing to l.
func New(l *slog.Logger) *Logger { return &Logger{l: l} }

type requestKey struct{}

// RequestContext is a context.Context carrying the request id and client
// address that every event logged under it names. WithRequest allocates
// one; a server may embed one in its per-request state and set the fields.
type RequestContext struct {
	context.Context // the parent: required
	ID, Client      string
}

// Value returns c for the audit package's key and asks the parent for any
// other.
func (c *RequestContext) Value(key any) any {
	if key == (requestKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// WithRequest returns ctx carrying the request id and client address that
// every event logged under it will name.
func WithRequest(ctx context.Context, requestID, client string) context.Context {
	return &RequestContext{Context: ctx, ID: requestID, Client: client}
}

// request returns the request id and client address of ctx, if any.
func request(ctx context.Context) (id, client string) {
	if c, ok := ctx.Value(requestKey{}).(*RequestContext); ok {
		return c.ID, c.Client
	}
	return "", ""
}

// RequestID returns the request id of ctx, if any.
func RequestID(ctx context.Context) string {
	id, _ := request(ctx)
	return id
}

// Enabled reports whether events at level would be written, so that a
// caller can skip building one that would not.
func (a *Logger) Enabled(ctx context.Context, level slog.Level) bool {
	return a != nil && a.l.Enabled(ctx, level)
}

// Log writes e. Successes are Info, failures and denials Warn.
func (a *Logger) Log(ctx context.Context, e Event) {
	a.log(ctx, e, levelOf(e))
}

// Debug writes e at Debug level: for per-request decisions that would
// flood the trail at Info (every successful token verification).
func (a *Logger) Debug(ctx context.Context, e Event) {
	a.log(ctx, e, slog.LevelDebug)
}

func (a *Logger) log(ctx context.Context, e Event, level slog.Level) {
	if !a.Enabled(ctx, level) {
		return
	}
	requestID, client := request(ctx)
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs, slog.String("kind", "audit"), slog.String("action", e.Action), slog.String("outcome", e.Outcome))
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("actor", e.Actor)
	add("actor_tenant", e.ActorTenant)
	add("method", e.Method)
	add("subject", e.Subject)
	add("tenant", e.Tenant)
	add("target", e.Target)
	add("reason", e.Reason)
	if e.Count != 0 {
		attrs = append(attrs, slog.Int("count", e.Count))
	}
	add("request_id", requestID)
	add("client_ip", client)
	a.l.LogAttrs(ctx, level, "audit", attrs...)
}

func levelOf(e Event) slog.Level {
	if e.Outcome == Success {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}
