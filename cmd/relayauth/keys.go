package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/internal/audit"
	"github.com/relayauth/relayauth/internal/config"
)

// AdminKeyTenant is the tenant of bootstrap admin keys: the platform's.
const AdminKeyTenant = "platform"

// keys dispatches `relayauth keys ...`.
func keys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "generate-admin" {
		return fmt.Errorf("%w: keys takes one subcommand: generate-admin", errUsage)
	}
	return generateAdminKey(ctx, args[1:], getenv, stdout, stderr)
}

// generateAdminKey mints a bootstrap admin API key into the configured
// key store and prints it once. The key expires (24h by default), its
// creation is an audit event, and production refuses it unless
// --allow-production says this is meant.
func generateAdminKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys generate-admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "bootstrap-admin", "the key's name (unique in the platform tenant)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the key works (0 is refused: bootstrap keys expire)")
	allowProd := fs.Bool("allow-production", false, "mint an admin key in production (audited)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *ttl <= 0 || *ttl > apikey.MaxExpiresIn {
		return fmt.Errorf("%w: --ttl must be positive and at most %v", errUsage, apikey.MaxExpiresIn)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration is invalid:\n%v", err)
	}
	cfg = cfg.WithDefaults()
	if cfg.Env == config.Production {
		if !*allowProd {
			return fmt.Errorf("refusing to mint an admin API key in production without --allow-production")
		}
		// An admin key for a deployment that serve would refuse to start
		// is a credential that outlives the mistake: fix the list first.
		if _, err := preflight(ctx, getenv); err != nil {
			return fmt.Errorf("refusing to mint an admin API key: %w", err)
		}
	}
	b, err := openBackends(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	if !b.persistentKeys() {
		return fmt.Errorf("no persistent API key store: set %s, or %s=redis with %s", config.EnvAPIKeysFile, config.EnvBackend, config.EnvRedisURL)
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	m, err := apikey.NewManager(b.keys, apikey.EnvFor(cfg.Env), apikey.WithLogger(log))
	if err != nil {
		return err
	}
	defer m.Close()
	k, raw, err := m.Create(ctx, apikey.CreateRequest{
		Name: *name, Tenant: AdminKeyTenant, Roles: []string{relayauth.RoleAdmin},
		Scopes: relayauth.KnownScopes(), ExpiresIn: *ttl, CreatedBy: "cli:keys generate-admin",
	})
	if err != nil {
		return err
	}
	audit.New(log).Log(ctx, audit.Event{Action: "apikey.create", Outcome: audit.Success, Actor: "cli",
		Method: "cli", Tenant: k.Tenant, Target: k.ID, Reason: "bootstrap admin key, env " + cfg.Env})
	fmt.Fprintf(stdout, "%s\n", raw.Reveal())
	fmt.Fprintf(stderr, "relayauth: admin API key %s (%s) created in %s; expires %s. The key above is shown only this once.\n",
		k.ID, k.MaskedKey, storeName(cfg), k.ExpiresAt.UTC().Format(time.RFC3339))
	return nil
}

func storeName(cfg config.Config) string {
	if cfg.APIKeysFile != "" {
		return cfg.APIKeysFile
	}
	return "Redis"
}
