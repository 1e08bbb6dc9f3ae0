package token

import (
	"fmt"

	"github.com/relayauth/relayauth"
)

// Sentinel errors returned by Verify, VerifyJWS and friends. Every one wraps
// relayauth.ErrUnauthenticated, so the HTTP layer answers 401 for all of them
// with a single errors.Is check; test for the specific reason with errors.Is
// as well. Error texts never contain token bytes, claim values or key
// material: a token is attacker-controlled input and may be a credential.
var (
	// ErrMalformed: not a compact JWS, bad base64url, bad JSON, a forbidden
	// or duplicate header parameter, or a claim of the wrong type.
	ErrMalformed = fmt.Errorf("token: malformed: %w", relayauth.ErrUnauthenticated)
	// ErrTooLarge: the token is longer than the verifier's size cap.
	ErrTooLarge = fmt.Errorf("token: too large: %w", relayauth.ErrUnauthenticated)
	// ErrAlgorithm: alg is missing, "none", unsupported, or not the alg of
	// the key named by kid.
	ErrAlgorithm = fmt.Errorf("token: algorithm not allowed: %w", relayauth.ErrUnauthenticated)
	// ErrUnknownKey: kid is missing or names no key of the key set.
	ErrUnknownKey = fmt.Errorf("token: unknown key: %w", relayauth.ErrUnauthenticated)
	// ErrSignature: the signature does not verify.
	ErrSignature = fmt.Errorf("token: invalid signature: %w", relayauth.ErrUnauthenticated)
	// ErrExpired: exp (plus leeway) is not in the future.
	ErrExpired = fmt.Errorf("token: expired: %w", relayauth.ErrUnauthenticated)
	// ErrNotYetValid: nbf or iat is in the future beyond the leeway.
	ErrNotYetValid = fmt.Errorf("token: not yet valid: %w", relayauth.ErrUnauthenticated)
	// ErrIssuer: iss is not the verifier's issuer.
	ErrIssuer = fmt.Errorf("token: wrong issuer: %w", relayauth.ErrUnauthenticated)
	// ErrAudience: aud does not contain the verifier's audience.
	ErrAudience = fmt.Errorf("token: wrong audience: %w", relayauth.ErrUnauthenticated)
	// ErrWrongType: the typ header is missing or names the other token type
	// (a refresh token presented as an access token, or the reverse).
	ErrWrongType = fmt.Errorf("token: wrong token type: %w", relayauth.ErrUnauthenticated)
	// ErrMissingClaim: a required claim (exp, iss, aud, sub, sid, jti) is
	// absent or empty.
	ErrMissingClaim = fmt.Errorf("token: missing claim: %w", relayauth.ErrUnauthenticated)
)

// reasonError adds a fixed, secret-free reason to a sentinel. The values are
// package-level variables, so failing paths allocate nothing: a flood of
// garbage tokens costs no garbage collection.
type reasonError struct {
	msg  string
	kind error
}

func (e *reasonError) Error() string { return e.msg }
func (e *reasonError) Unwrap() error { return e.kind }

func reason(kind error, msg string) error { return &reasonError{msg: msg, kind: kind} }

var (
	errSegments     = reason(ErrMalformed, "token: malformed: not a compact JWS (want exactly two dots)")
	errBase64       = reason(ErrMalformed, "token: malformed: invalid base64url")
	errHeaderJSON   = reason(ErrMalformed, "token: malformed: header is not a strict JSON object")
	errHeaderTooBig = reason(ErrMalformed, "token: malformed: header too large")
	errHeaderDup    = reason(ErrMalformed, "token: malformed: header parameter name is a duplicate, a case variant or holds a control character")
	errHeaderCrit   = reason(ErrMalformed, "token: malformed: crit header parameter is not supported")
	errHeaderKeyRef = reason(ErrMalformed, "token: malformed: jku, x5u, jwk and x5c header parameters are not accepted")
	errClaimsJSON   = reason(ErrMalformed, "token: malformed: claims are not a strict JSON object")
	errClaimsDup    = reason(ErrMalformed, "token: malformed: claim name is a duplicate, a case variant or holds a control character")
	errClaimType    = reason(ErrMalformed, "token: malformed: claim has the wrong JSON type")
	errClaimNumber  = reason(ErrMalformed, "token: malformed: time claim is not an integer in range")
	errClaimScope   = reason(ErrMalformed, "token: malformed: scope is not a space-separated list of scope tokens")
	errClaimTooMany = reason(ErrMalformed, "token: malformed: too many audiences, roles or scopes")
	errAlgMissing   = reason(ErrAlgorithm, "token: algorithm not allowed: alg header missing")
	errAlgNone      = reason(ErrAlgorithm, "token: algorithm not allowed: alg none")
	errAlgUnknown   = reason(ErrAlgorithm, "token: algorithm not allowed: unsupported alg")
	errAlgMismatch  = reason(ErrAlgorithm, "token: algorithm not allowed: alg differs from the key's alg")
	errKidMissing   = reason(ErrUnknownKey, "token: unknown key: kid header missing")
	errTypMissing   = reason(ErrWrongType, "token: wrong token type: typ header missing")
	errTypWanted    = reason(ErrWrongType, "token: wrong token type: unknown wanted type")
	errMissingExp   = reason(ErrMissingClaim, "token: missing claim: exp")
	errMissingIss   = reason(ErrMissingClaim, "token: missing claim: iss")
	errMissingAud   = reason(ErrMissingClaim, "token: missing claim: aud")
	errMissingSub   = reason(ErrMissingClaim, "token: missing claim: sub")
	errMissingSid   = reason(ErrMissingClaim, "token: missing claim: sid")
	errMissingJti   = reason(ErrMissingClaim, "token: missing claim: jti")
	errIatFuture    = reason(ErrNotYetValid, "token: not yet valid: iat is in the future")
	errNbfFuture    = reason(ErrNotYetValid, "token: not yet valid: nbf is in the future")
	errNoIssuerConf = reason(ErrIssuer, "token: wrong issuer: verifier has no issuer configured")
	errNoAudConf    = reason(ErrAudience, "token: wrong audience: verifier has no audience configured")
	errNoKeySet     = reason(ErrUnknownKey, "token: unknown key: no key set")
)
