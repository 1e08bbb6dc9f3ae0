package main

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// An unknown migration name is said first, plainly, in every
// environment: before --confirm, before the configuration or a store is
// touched, with the list of migrations and no "resumable" hint.
func TestMigrateUnknownName(t *testing.T) {
	unreachable := "redis://" + closedAddr(t) + "/0"
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"development", baseEnv(), []string{"nosuch"}},
		{"development, Redis unreachable", merge(baseEnv(), map[string]string{"SESSION_STORE_BACKEND": "redis", "REDIS_URL": unreachable}), []string{"nosuch"}},
		{"production without --confirm", merge(baseEnv(), map[string]string{"RELAY_ENV": "production"}), []string{"nosuch"}},
		{"production with --confirm", merge(baseEnv(), map[string]string{"RELAY_ENV": "production"}), []string{"--confirm", "nosuch", "nosuch"}},
		{"invalid configuration", map[string]string{"RELAY_DEBUG": "maybe"}, []string{"nosuch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), append([]string{"migrate"}, tt.args...), envFunc(tt.env), nil, &strings.Builder{}, &strings.Builder{})
			if err == nil || !errors.Is(err, errUsage) {
				t.Fatalf("got %v, want a usage error", err)
			}
			msg := err.Error()
			for _, want := range []string{`unknown migration "nosuch"`, "apikeys-file-to-redis", "schema-v2"} {
				if !strings.Contains(msg, want) {
					t.Errorf("%q lacks %q", msg, want)
				}
			}
			for _, wrong := range []string{"resumable", "--confirm", "configuration", "unavailable"} {
				if strings.Contains(msg, wrong) {
					t.Errorf("%q says %q", msg, wrong)
				}
			}
		})
	}
}

// A known migration the configuration cannot run says what it needs, and
// not that running it again would help.
func TestMigrateNotConfigured(t *testing.T) {
	var stderr strings.Builder
	err := run(context.Background(), []string{"migrate", "schema-v2"}, envFunc(baseEnv()), nil, &strings.Builder{}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "needs SESSION_STORE_BACKEND=redis") || strings.Contains(err.Error(), "resumable") {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(stderr.String(), `"action":"admin.migration"`) {
		t.Errorf("the refused migration is not audited: %s", stderr.String())
	}
}
