package apikey_test

import (
	"testing"

	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/apikey/apikeytest"
)

func TestMemoryStore(t *testing.T) {
	apikeytest.RunTests(t, func(t *testing.T) apikey.Store {
		s := apikey.NewMemoryStore()
		t.Cleanup(func() { s.Close() })
		return s
	})
}
