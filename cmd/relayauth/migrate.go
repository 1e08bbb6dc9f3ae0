package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/relayauth/relayauth/internal/audit"
	"github.com/relayauth/relayauth/internal/config"
	"github.com/relayauth/relayauth/internal/migrate"
)

// migrationNames are the names of every migration, runnable with this
// configuration or not.
func migrationNames() []string {
	return (&backends{}).migrations(config.Config{}).Names()
}

// runMigration runs `relayauth migrate NAME`, the same migrations as
// POST /admin/migrations/{name}. Production needs --confirm NAME.
func runMigration(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	confirm := fs.String("confirm", "", "repeat the migration's name: required in production")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	known := migrationNames()
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: migrate takes one migration name (%s)", errUsage, strings.Join(known, ", "))
	}
	name := fs.Arg(0)
	// An unknown name is a mistake on the command line, whatever the
	// environment: said first, before the configuration or --confirm.
	if !slices.Contains(known, name) {
		return fmt.Errorf("%w: unknown migration %q; known migrations: %s", errUsage, name, strings.Join(known, ", "))
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration is invalid:\n%v", err)
	}
	cfg = cfg.WithDefaults()
	if cfg.Env == config.Production && *confirm != name {
		return fmt.Errorf("in production, confirm the migration: relayauth migrate --confirm %s %s", name, name)
	}
	b, err := openBackends(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	log := audit.New(slog.New(slog.NewJSONHandler(stderr, nil)))
	res, err := b.migrations(cfg).Run(ctx, name)
	event := audit.Event{Action: "admin.migration", Actor: "cli", Method: "cli", Target: name, Count: res.Migrated, Outcome: audit.Success}
	if err != nil {
		event.Outcome, event.Reason = audit.Failure, err.Error()
	}
	log.Log(ctx, event)
	switch {
	case errors.Is(err, migrate.ErrNotConfigured), errors.Is(err, migrate.ErrUnknown):
		// Running it again changes nothing: the configuration must.
		return fmt.Errorf("migration %s: %w", name, err)
	case err != nil:
		return fmt.Errorf("migration %s: %w (it is resumable: run it again)", name, err)
	}
	out, _ := json.Marshal(res)
	fmt.Fprintln(stdout, string(out))
	return nil
}
