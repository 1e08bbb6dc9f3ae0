package main

import (
	"context"
	"fmt"
	"io"

	"github.com/relayauth/relayauth/internal/config"
)

// check runs serve's preflight, and nothing else: it lists every problem
// and returns nil only when serve would start. Beyond the settings it
// parses the signing keys, REDIS_URL and API_KEYS_FILE, and PINGs Redis
// when sessions are kept there (for at most redisProbeTimeout). It does
// not bind LISTEN_ADDR: a running server may hold it.
func check(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: check takes no arguments", errUsage)
	}
	r, err := preflight(ctx, getenv)
	if err != nil {
		return err
	}
	for _, w := range r.warnings {
		fmt.Fprintln(stdout, "  - "+w.String())
	}
	reach := "serve uses no Redis"
	if r.pinged {
		reach = "Redis answered a PING"
	}
	fmt.Fprintf(stdout, "configuration OK for %s (%s; %s %s is not tried: serve binds it)\n",
		r.cfg.Env, reach, config.EnvListenAddr, r.cfg.ListenAddr)
	return nil
}
