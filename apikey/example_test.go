package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
)

func Example() {
	ctx := context.Background()
	m, err := apikey.NewManager(apikey.NewMemoryStore(), apikey.EnvFor("staging"),
		apikey.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	defer m.Close()

	k, secret, err := m.Create(ctx, apikey.CreateRequest{Name: "ci", Tenant: "acme", Scopes: []string{"tokens:issue"}})
	if err != nil {
		panic(err)
	}
	raw := secret.Reveal() // give it to the caller, once
	fmt.Println(len(raw), raw[:8], secret)

	id, err := m.Verify(ctx, raw)
	fmt.Println(id.ID == k.ID, id.Tenant, id.Scopes, err)

	if err := m.Revoke(ctx, k.ID); err != nil {
		panic(err)
	}
	_, err = m.Verify(ctx, raw)
	fmt.Println(errors.Is(err, apikey.ErrRevoked), errors.Is(err, relayauth.ErrUnauthenticated))
	// Output:
	// 47 rk_test_ [REDACTED]
	// true acme [tokens:issue] <nil>
	// true true
}

func ExampleParse() {
	const key = "rk_live_0000000000000000000000000000000001Dcbuq"
	p, err := apikey.Parse(key)
	fmt.Println(p.Env, p, err)

	_, err = apikey.Parse("rk_live_0000000000000000000000000000000001Dcbuv") // a typo
	fmt.Println(err)
	// Output:
	// live rk_live_…cbuq <nil>
	// API key checksum mismatch: unauthenticated
}

func ExampleMask() {
	fmt.Println(apikey.Mask("rk_live_0000000000000000000000000000000001Dcbuq"))
	fmt.Println(apikey.Mask("not a key"))
	// Output:
	// rk_live_…cbuq
	// …
}
