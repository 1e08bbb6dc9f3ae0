// Package relayauth holds the domain types shared by every part of Relay
// Auth: the authenticated Principal, its roles and scopes, and the sentinel
// errors that the HTTP layer maps to status codes.
//
// Subpackages are split by dependency: token (JWT issue and verify),
// session (the session store and its backends), internal/server (HTTP) and
// cmd/relayauth (the binary). Dependencies point one way, towards this
// package.
package relayauth
