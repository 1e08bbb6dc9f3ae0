package token_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/token"
)

// A server signs with the active key of a KeySet and verifies with the
// same set; tokens name their session so that revocation can find them.
func ExampleVerifier() {
	key, err := token.GenerateKey(token.EdDSA)
	if err != nil {
		panic(err)
	}
	keys, err := token.NewKeySet(key)
	if err != nil {
		panic(err)
	}
	issuer := token.NewIssuer(keys, "https://auth.example", []string{"api"})
	verifier := token.NewVerifier(keys, "https://auth.example", "api")

	now := time.Now()
	access, err := issuer.Issue(token.Claims{
		Subject:   "user-42",
		SessionID: "ses-1",
		ID:        "tok-1",
		IssuedAt:  now.Unix(),
		ExpiresAt: now.Add(15 * time.Minute).Unix(),
		Roles:     []string{relayauth.RoleTenantAdmin},
		Scopes:    []string{relayauth.ScopeTokensIssue, relayauth.ScopeSessionsRevoke},
		Type:      token.Access,
	})
	if err != nil {
		panic(err)
	}

	claims, err := verifier.VerifyAccess(access)
	fmt.Println(claims.Subject, claims.SessionID, claims.Roles, claims.Scopes, claims.Type, err)

	// The same token is not a refresh token, and a tampered one is not a
	// token at all; both are 401s.
	_, err = verifier.VerifyRefresh(access)
	fmt.Println(errors.Is(err, token.ErrWrongType), errors.Is(err, relayauth.ErrUnauthenticated))
	_, err = verifier.VerifyAccess(access[:len(access)-4] + "AAAA")
	fmt.Println(errors.Is(err, token.ErrSignature))
	// Output:
	// user-42 ses-1 [tenant_admin] [tokens:issue sessions:revoke] access <nil>
	// true true
	// true
}
