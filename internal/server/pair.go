package server

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/relayauth/relayauth/metrics"
	"github.com/relayauth/relayauth/session"
	"github.com/relayauth/relayauth/token"
)

// tokenPair is the answer of login, refresh and token issuance.
type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	SessionID    string `json:"session_id"`
}

// grant is who a new session is for.
type grant struct {
	Subject, Tenant string
	Roles, Scopes   []string
}

// startSession records a new session for g and issues its first pair.
func (s *server) startSession(ctx context.Context, r *http.Request, g grant) (tokenPair, error) {
	now := s.Now()
	sess := session.Session{
		ID:         newID(),
		Subject:    g.Subject,
		Tenant:     g.Tenant,
		Roles:      g.Roles,
		Scopes:     g.Scopes,
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  s.sessionExpiry(now, now),
		IP:         clientIP(r),
		UserAgent:  truncate(r.UserAgent(), 256),
		RefreshID:  newID(),
	}
	if err := s.Sessions.Create(ctx, sess); err != nil {
		return tokenPair{}, err
	}
	return s.issuePair(sess, now)
}

// sessionExpiry is when a session created at created and last refreshed at
// now ends: the idle timeout from now, capped by the absolute timeout.
func (s *server) sessionExpiry(created, now time.Time) time.Time {
	idle := now.Add(s.RefreshTTL)
	abs := created.Add(s.SessionTTL)
	if idle.Before(abs) {
		return idle
	}
	return abs
}

// issuePair signs an access token and the refresh token sess.RefreshID.
// Neither outlives the session.
func (s *server) issuePair(sess session.Session, now time.Time) (tokenPair, error) {
	accessExp := now.Add(s.AccessTTL)
	if accessExp.After(sess.ExpiresAt) {
		accessExp = sess.ExpiresAt
	}
	base := token.Claims{
		Subject:   sess.Subject,
		Tenant:    sess.Tenant,
		SessionID: sess.ID,
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
	}
	access := base
	access.Type = token.Access
	access.ID = newID()
	access.ExpiresAt = accessExp.Unix()
	access.Roles = sess.Roles
	access.Scopes = sess.Scopes
	at, err := s.sign(access)
	if err != nil {
		return tokenPair{}, err
	}
	refresh := base
	refresh.Type = token.Refresh
	refresh.ID = sess.RefreshID
	refresh.ExpiresAt = sess.ExpiresAt.Unix()
	rt, err := s.sign(refresh)
	if err != nil {
		return tokenPair{}, err
	}
	return tokenPair{
		AccessToken:  at,
		RefreshToken: rt,
		TokenType:    "Bearer",
		ExpiresIn:    accessExp.Unix() - now.Unix(),
		SessionID:    sess.ID,
	}, nil
}

// sign issues one token and records it.
func (s *server) sign(c token.Claims) (string, error) {
	start := time.Now()
	tok, err := s.Issuer.Issue(c)
	s.Metrics.ObserveSign(s.alg, time.Since(start))
	if err != nil {
		s.Metrics.SigningError(s.alg)
		return "", err
	}
	typ := metrics.TokenAccess
	if c.Type == token.Refresh {
		typ = metrics.TokenRefresh
	}
	s.Metrics.TokenIssued(typ)
	return tok, nil
}

// clientIP is the peer address. Forwarded headers are not trusted: a
// deployment behind a proxy should terminate there and pass the peer.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
