// Package token issues and strictly verifies the JSON Web Tokens of Relay
// Auth: access tokens (typ "at+jwt", RFC 9068) and refresh tokens (typ
// "rt+jwt"), signed with HS256, EdDSA (Ed25519) or ES256 (P-256).
//
// The JWS and JSON code is our own rather than a JOSE library's, for two
// reasons. Verification is on the hot path of every request (a successful
// HS256 Verify allocates twice and costs a few HMAC blocks), and a small
// parser that accepts one narrow, strict dialect is easier to audit than a
// general one. The rules, each tested against docs/security.md §Tokens:
//
//   - compact serialization only; a size cap (8 KiB) before any work;
//   - strict unpadded base64url: no '=', no whitespace, no other byte, zero
//     trailing bits;
//   - header and claims are strict JSON objects: duplicate names and names
//     that differ from another only in case are rejected, as are invalid
//     UTF-8 and lone surrogates;
//   - kid is required and only ever a key in an in-memory map; alg must be
//     exactly the alg of that key ("none" never is); crit, jku, x5u, jwk
//     and x5c are rejected, and nothing is ever fetched;
//   - the signature is checked before the claims are even parsed, so a
//     forged token is ErrSignature, never ErrExpired;
//   - ECDSA signatures are 64-byte r||s with r and s in [1, n-1];
//   - exp is required; nbf and iat are checked with a leeway (default 30s);
//     iss must match; aud (string or array) must contain the audience;
//     sub, sid and jti are required; typ separates access from refresh.
//
// Keys live in an immutable KeySet (one active signing key plus previous
// keys that still verify), published as a JWKS without private or HMAC
// material. Keys never print their secrets.
package token
