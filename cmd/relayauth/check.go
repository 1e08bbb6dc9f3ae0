package main

import (
	"fmt"
	"io"
)

// check validates the configuration as serve would and lists every
// problem; it returns nil only when serve would start.
func check(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: check takes no arguments", errUsage)
	}
	cfg, warnings, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(stdout, "  - "+w.String())
	}
	if _, err := keySet(cfg); err != nil {
		return fmt.Errorf("configuration is invalid:\n  - %v", err)
	}
	fmt.Fprintf(stdout, "configuration OK for %s\n", cfg.Env)
	return nil
}
