// Package metrics holds Relay Auth's Prometheus collectors.
//
// New registers every collector with the registry it is given; the
// package never touches the global default registry, so tests and
// embedding programs each get their own. Every method is a no-op on a nil
// *Metrics: callers record unconditionally, and turning metrics off means
// passing nil.
//
// Label values come only from the small fixed sets declared in this
// package (the constants below, "other" for anything else). A caller's
// string never becomes a label value, so no subject, tenant, key id,
// session id, token or password can reach a metric (security.md item 20)
// and the number of series is fixed when New returns.
//
// Recording is cheap: every labelled series is resolved once in New and
// kept in an array indexed by its label values, so the hot path is a short
// scan of a fixed list and one atomic add, with no map lookup and no
// allocation.
//
// The dashboard and alerting rules built on these metrics are in deploy/
// at the module root; a test checks that they name only metrics that
// exist here, and that every metric here is shown or alerted on.
package metrics
