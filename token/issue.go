package token

import (
	"errors"
	"time"
)

// Issuer signs tokens with the active key of a KeySet and stamps them with
// its issuer and audience. It is safe for concurrent use. To rotate keys,
// build a new Issuer from the rotated KeySet.
type Issuer struct {
	ks          *KeySet
	issuer      string
	audience    []string
	maxLifetime int64 // seconds; 0 = no limit
}

// IssuerOption configures an Issuer.
type IssuerOption func(*Issuer)

// WithMaxLifetime makes Issue refuse claims whose lifetime (exp minus iat,
// iat being required then) exceeds d. It guards against a caller bug that
// mints near-eternal tokens: a token cannot be revoked by expiry sooner
// than its exp, so the cap bounds the damage of a leaked one.
func WithMaxLifetime(d time.Duration) IssuerOption {
	return func(i *Issuer) {
		if d > 0 {
			i.maxLifetime = int64(d / time.Second)
		}
	}
}

// NewIssuer returns an Issuer for ks. issuer becomes every token's "iss"
// and audience its "aud"; both must be non-empty or Issue fails.
func NewIssuer(ks *KeySet, issuer string, audience []string, opts ...IssuerOption) *Issuer {
	i := &Issuer{ks: ks, issuer: issuer, audience: append([]string(nil), audience...)}
	for _, o := range opts {
		o(i)
	}
	return i
}

// Issue returns a signed compact JWT for c. It sets iss and aud from the
// Issuer (c.Issuer and c.Audience are ignored) and the header
// {alg, kid, typ} from the active key and c.Type. The caller sets sub, sid,
// jti, exp and, usually, iat and nbf; Type, exp, sub, sid and jti are
// required, because Verify requires them.
func (i *Issuer) Issue(c Claims) (string, error) {
	if i.ks == nil || i.ks.active == nil {
		return "", errors.New("token: Issue: no active signing key")
	}
	if i.issuer == "" || len(i.audience) == 0 {
		return "", errors.New("token: Issue: issuer and audience must be configured")
	}
	c.Issuer, c.Audience = i.issuer, i.audience
	if err := checkIssue(&c, i.maxLifetime); err != nil {
		return "", err
	}
	payload, ok := appendClaims(make([]byte, 0, 512), &c)
	if !ok {
		return "", errors.New("token: Issue: a claim is not valid UTF-8")
	}
	k := i.ks.active
	hdr := k.headers[c.Type]
	out := make([]byte, 0, len(hdr)+1+(len(payload)*4+2)/3+1+86)
	out = append(out, hdr...)
	out = append(out, '.')
	out = b64Append(out, payload)
	sig, err := k.sign(out)
	if err != nil {
		return "", err
	}
	out = append(out, '.')
	out = b64Append(out, sig)
	return string(out), nil
}

func checkIssue(c *Claims, maxLifetime int64) error {
	switch {
	case c.Type != Access && c.Type != Refresh:
		return errors.New("token: Issue: Type must be Access or Refresh")
	case c.ExpiresAt <= 0 || c.ExpiresAt > maxSafeInt:
		return errors.New("token: Issue: ExpiresAt is required")
	case c.NotBefore < 0 || c.NotBefore > maxSafeInt || c.IssuedAt < 0 || c.IssuedAt > maxSafeInt:
		return errors.New("token: Issue: NotBefore or IssuedAt out of range")
	case c.IssuedAt != 0 && c.ExpiresAt <= c.IssuedAt:
		return errors.New("token: Issue: ExpiresAt must be after IssuedAt")
	case c.Subject == "" || c.SessionID == "" || c.ID == "":
		return errors.New("token: Issue: Subject, SessionID and ID are required")
	case len(c.Audience)+len(c.Roles)+len(c.Scopes) > maxListItems:
		return errors.New("token: Issue: too many audiences, roles and scopes")
	}
	for _, a := range c.Audience {
		if a == "" {
			return errors.New("token: Issue: empty audience")
		}
	}
	if maxLifetime > 0 && (c.IssuedAt == 0 || c.ExpiresAt-c.IssuedAt > maxLifetime) {
		return errors.New("token: Issue: lifetime exceeds the maximum (IssuedAt is required)")
	}
	for _, s := range c.Scopes {
		if !validScope(s) {
			return errors.New("token: Issue: a scope is not an RFC 6749 scope token")
		}
	}
	return nil
}
