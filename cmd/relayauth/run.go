package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

const usage = `usage: relayauth <command> [flags]

commands:
  serve [--dev]   run the server from the environment (--dev: local, ephemeral secrets)
  check           validate the configuration and list every problem
  keys generate-admin [--name N] [--ttl D] [--allow-production]
                  mint a bootstrap admin API key into the key store; printed once
  migrate [--confirm NAME] NAME
                  run a data migration (apikeys-file-to-redis, schema-v2)
  version         print the version
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// run is the whole program: main passes the process's arguments,
// environment and streams, tests pass their own.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "check":
		return check(ctx, args[1:], getenv, stdout, stderr)
	case "keys":
		return keys(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return runMigration(ctx, args[1:], getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "relayauth", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
}
