package token

import "time"

// Defaults and limits of a Verifier.
const (
	// DefaultMaxTokenSize is the default size cap: 8 KiB, far above our
	// tokens (about 500 bytes) and below anything that costs real work.
	DefaultMaxTokenSize = 8 << 10
	// MaxTokenSizeLimit is the largest cap WithMaxTokenSize accepts.
	MaxTokenSizeLimit = 64 << 10
	// DefaultLeeway is the default clock-skew allowance for exp, nbf, iat.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest leeway WithLeeway accepts.
	MaxLeeway = 5 * time.Minute
)

// Verifier checks tokens signed by the keys of a KeySet for one issuer and
// one audience. It is safe for concurrent use. Verification is strict: see
// the package documentation for the full list of rules.
type Verifier struct {
	ks       *KeySet
	issuer   string
	audience string
	now      func() time.Time
	leeway   int64 // whole seconds
	maxSize  int
	cache    *verifyCache // nil: WithCache not given
}

// VerifierOption configures a Verifier. Every option keeps the verifier
// fail-closed: out-of-range values are clamped to the nearest safe value,
// never turned into "no check".
type VerifierOption func(*Verifier)

// WithClock sets the clock that exp, nbf and iat are checked against, so
// tests and simulations control time. nil keeps time.Now.
func WithClock(now func() time.Time) VerifierOption {
	return func(v *Verifier) {
		if now != nil {
			v.now = now
		}
	}
}

// WithLeeway sets the clock-skew allowance applied to exp, nbf and iat
// (default 30s, RFC 7519 §4.1.4 "small leeway"). It is truncated to whole
// seconds and clamped to [0, MaxLeeway]: a large leeway would quietly extend
// the life of every stolen token, so it cannot be configured.
func WithLeeway(d time.Duration) VerifierOption {
	return func(v *Verifier) {
		v.leeway = int64(min(max(d, 0), MaxLeeway) / time.Second)
	}
}

// WithMaxTokenSize sets the size cap checked before any other work (default
// 8 KiB), so oversized input is refused at the cost of a length compare.
// n <= 0 keeps the default; n is clamped to MaxTokenSizeLimit.
func WithMaxTokenSize(n int) VerifierOption {
	return func(v *Verifier) {
		if n > 0 {
			v.maxSize = min(n, MaxTokenSizeLimit)
		}
	}
}

// NewVerifier returns a Verifier that accepts tokens signed by ks, with
// "iss" equal to issuer and "aud" containing audience. An empty issuer or
// audience makes every token fail: there is no "any issuer" mode.
func NewVerifier(ks *KeySet, issuer string, audience string, opts ...VerifierOption) *Verifier {
	v := &Verifier{
		ks:       ks,
		issuer:   issuer,
		audience: audience,
		now:      time.Now,
		leeway:   int64(DefaultLeeway / time.Second),
		maxSize:  DefaultMaxTokenSize,
	}
	for _, o := range opts {
		o(v)
	}
	return v
}

// VerifyAccess is Verify(token, Access).
func (v *Verifier) VerifyAccess(token string) (Claims, error) { return v.Verify(token, Access) }

// VerifyRefresh is Verify(token, Refresh).
func (v *Verifier) VerifyRefresh(token string) (Claims, error) { return v.Verify(token, Refresh) }

// Verify checks token and returns its claims if it is a valid token of type
// want. In order: size cap, compact form, strict base64url, header rules,
// key lookup by kid, alg pinned to the key, signature; then typ, claims
// syntax, exp (required), nbf, iat, iss, aud, and sub, sid and jti
// (required). Every error wraps one of the package's sentinels, and through
// it relayauth.ErrUnauthenticated. A token that fails its signature is
// reported as ErrSignature whatever else is wrong with it.
//
// A successful call allocates twice: one string holding the payload, of
// which every string claim is a substring, and one []string shared by
// Audience, Roles and Scopes.
func (v *Verifier) Verify(token string, want Type) (Claims, error) {
	var c Claims
	if err := v.verify(token, want, &c, nil); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// VerifyAccessInto is VerifyAccess for a caller that keeps the claims in an
// allocation of its own, such as a middleware's per-request state: it
// writes them to *c and backs Audience, Roles and Scopes with list when
// they fit in it, so that a successful call allocates once, for the
// payload string. On error *c is left zero. The claims keep referring to
// list: it must live as long as they do.
func (v *Verifier) VerifyAccessInto(token string, c *Claims, list []string) error {
	return v.verify(token, Access, c, list)
}

// verify is Verify writing to *c, with list as the backing of the claims'
// string lists when it is long enough.
func (v *Verifier) verify(token string, want Type, c *Claims, list []string) error {
	*c = Claims{}
	cache := v.cache
	if want != Access || len(token) > v.maxSize {
		// Refresh tokens are used once: remembering them would only evict
		// access tokens. An oversized token is refused below at the cost of
		// a length compare; hashing it for a lookup first would not be.
		cache = nil
	}
	if cache != nil {
		if e := cache.get(token); e != nil && e.claims.Type == want {
			// The same bytes verified before under this key set, issuer
			// and audience; only the clock can have changed the answer.
			rc := rawClaims{has: hasExp | hasNbf | hasIat, exp: e.claims.ExpiresAt, nbf: e.claims.NotBefore, iat: e.claims.IssuedAt}
			if checkTimes(&rc, v.now().Unix(), v.leeway) == nil {
				e.fill(c, list)
				return nil
			}
			cache.forget(token, e) // verified in full below, for the exact error
		}
	}
	sc := getScratch()
	defer putScratch(sc)
	paySeg, h, err := verifyCompact(v.ks, nil, token, v.maxSize, sc)
	if err != nil {
		return err
	}
	switch {
	case want != Access && want != Refresh:
		return errTypWanted
	case !h.hasTyp:
		return errTypMissing
	case h.typ != want:
		return ErrWrongType
	}
	n, ok := decodedLen(len(paySeg))
	if !ok {
		return errBase64
	}
	sc.body = resize(sc.body, n)
	if n, ok = b64Decode(sc.body, paySeg); !ok {
		return errBase64
	}
	body := sc.body[:n]
	var rc rawClaims
	if err := parseClaims(body, &sc.list, &sc.seen, &rc); err != nil {
		return err
	}
	if err := v.validate(&rc, body, &sc.list); err != nil {
		return err
	}
	materialize(c, &rc, body, &sc.list, want, list)
	if cache != nil {
		cache.put(token, c)
	}
	return nil
}

// validate checks the claim values of a parsed, signature-checked token.
func (v *Verifier) validate(rc *rawClaims, b []byte, list *[maxListItems]span) error {
	if err := checkTimes(rc, v.now().Unix(), v.leeway); err != nil {
		return err
	}
	if v.issuer == "" {
		return errNoIssuerConf
	}
	if rc.iss.start == rc.iss.end {
		return errMissingIss
	}
	if string(b[rc.iss.start:rc.iss.end]) != v.issuer {
		return ErrIssuer
	}
	if v.audience == "" {
		return errNoAudConf
	}
	if rc.has&hasAud == 0 {
		return errMissingAud
	}
	found := false
	for _, a := range list[rc.aud.off : rc.aud.off+rc.aud.n] {
		found = found || string(b[a.start:a.end]) == v.audience
	}
	if !found {
		return ErrAudience
	}
	switch {
	case rc.sub.start == rc.sub.end:
		return errMissingSub
	case rc.sid.start == rc.sid.end:
		return errMissingSid
	case rc.jti.start == rc.jti.end:
		return errMissingJti
	}
	return nil
}

// checkTimes applies exp (required), nbf and iat with leeway, in whole
// seconds, with the same boundaries as RFC 7519 §4.1.4-4.1.6 and
// golang-jwt: valid while now < exp+leeway, from nbf-leeway and from
// iat-leeway. Values are at most 2^53-1 (int53), so nothing overflows.
func checkTimes(rc *rawClaims, now, leeway int64) error {
	if rc.has&hasExp == 0 {
		return errMissingExp
	}
	if now >= rc.exp+leeway {
		return ErrExpired
	}
	if rc.has&hasNbf != 0 && now < rc.nbf-leeway {
		return errNbfFuture
	}
	if rc.has&hasIat != 0 && now < rc.iat-leeway {
		return errIatFuture
	}
	return nil
}

// materialize fills c with two allocations at most: the payload string,
// and the []string behind Audience, Roles and Scopes unless they fit in
// into.
func materialize(c *Claims, rc *rawClaims, b []byte, list *[maxListItems]span, t Type, into []string) {
	s := string(b[:rc.maxEnd])
	sub := func(sp span) string { return s[sp.start:sp.end] }
	*c = Claims{
		Issuer:    sub(rc.iss),
		Subject:   sub(rc.sub),
		ExpiresAt: rc.exp,
		NotBefore: rc.nbf,
		IssuedAt:  rc.iat,
		ID:        sub(rc.jti),
		SessionID: sub(rc.sid),
		Tenant:    sub(rc.tenant),
		Type:      t,
	}
	if rc.listLen > 0 {
		strs := into
		if len(strs) < rc.listLen {
			strs = make([]string, rc.listLen)
		}
		for i, sp := range list[:rc.listLen] {
			strs[i] = sub(sp)
		}
		pick := func(r listRange) []string {
			if r.n == 0 {
				return nil
			}
			return strs[r.off : r.off+r.n : r.off+r.n]
		}
		c.Audience, c.Roles, c.Scopes = pick(rc.aud), pick(rc.roles), pick(rc.scopes)
	}
}
