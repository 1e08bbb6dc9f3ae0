package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/internal/clockguard"
	"github.com/relayauth/relayauth/internal/config"
	"github.com/relayauth/relayauth/internal/gcfloor"
	"github.com/relayauth/relayauth/internal/password"
	"github.com/relayauth/relayauth/internal/server"
	"github.com/relayauth/relayauth/metrics"
	sessionsredis "github.com/relayauth/relayauth/session/redisstore"
	"github.com/relayauth/relayauth/token"
)

// shutdownGrace is how long in-flight requests get after SIGTERM.
const shutdownGrace = 10 * time.Second

// clockCheckEvery is how often an instance on Redis measures its clock's
// offset from Redis's (and once at start).
const clockCheckEvery = 30 * time.Second

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.Bool("dev", false, "local development: memory store, ephemeral signing key and admin password")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, fs.Args())
	}
	if *dev {
		var err error
		if getenv, err = devEnv(getenv, stdout); err != nil {
			return err
		}
	}
	r, err := preflight(ctx, getenv)
	if err != nil {
		return err
	}
	cfg, keys := r.cfg, r.keys
	level := new(slog.LevelVar)
	if cfg.Debug {
		level.Set(slog.LevelDebug)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	for _, w := range r.warnings {
		log.Warn("unsafe configuration", "env", cfg.Env, "var", w.Var, "problem", w.Problem, "fix", w.Fix)
	}
	if cfg.MockSigning {
		log.Warn("RELAY_MOCK_SIGNING: tokens are signed with the published demo key; anyone can forge them", "kid", keys.Active().ID())
	}
	// GOGC is the runtime's, read from the process environment: an
	// operator who set it decides alone.
	if gogc := os.Getenv("GOGC"); gogc != "" && cfg.GCHeapFloorMiB > 0 {
		log.Info("GOGC is set: GC_HEAP_FLOOR_MIB is not applied", "gogc", gogc)
	} else if stop, ok := gcfloor.Start(uint64(cfg.GCHeapFloorMiB) << 20); ok {
		defer stop()
	}
	m, reg := metricsFor(cfg)
	b, err := openBackends(ctx, cfg, m.ObserveRevocationPropagation)
	if err != nil {
		return err
	}
	defer b.Close()
	sessions := b.sessions
	keyLog := log.With("component", "apikeys")
	apiKeys, err := apikey.NewManager(b.keys, apikey.EnvFor(cfg.Env), apikey.WithLogger(keyLog),
		apikey.WithFreshness(cfg.RevocationSLA), apikey.WithPropagationObserver(m.ObserveRevocationPropagation))
	if err != nil {
		return fmt.Errorf("API keys: %w", err)
	}
	defer apiKeys.Close()
	var metricsHandler http.Handler
	if m != nil {
		metricsHandler = metrics.Handler(reg)
		if counter, ok := sessions.(interface{ Len() int }); ok {
			m.ActiveSessionsFunc(func() float64 { return float64(counter.Len()) })
		}
		go reportStateAge(ctx, m, b.redisSessions, apiKeys)
	}

	var ready func() error
	if b.redis != nil {
		guard, err := clockguard.New(clockguard.Redis(b.redis, time.Now), cfg.ClockSkewTolerance,
			clockguard.WithLogger(log.With("component", "clockguard")), clockguard.WithObserver(m.SetClockOffset))
		if err != nil {
			return err
		}
		if err := guard.Check(ctx); err != nil {
			log.Error("not ready until the clock offset from Redis is measured", "error", err.Error())
		}
		go guard.Run(ctx, clockCheckEvery)
		ready = guard.Err
	}

	hasher := password.NewHasher(password.OWASP, max(1, runtime.NumCPU()/2))
	admin, err := hasher.Hash(ctx, cfg.AdminPassword)
	if err != nil {
		return fmt.Errorf("hashing ADMIN_PASSWORD: %w", err)
	}
	handler, err := server.New(server.Deps{
		Log:           log,
		Keys:          keys,
		Issuer:        token.NewIssuer(keys, cfg.Issuer, []string{cfg.Audience}),
		Verifier:      token.NewVerifier(keys, cfg.Issuer, cfg.Audience, token.WithCache(cfg.TokenCacheSize)),
		Sessions:      sessions,
		APIKeys:       apiKeys,
		Migrations:    b.migrations(cfg),
		Hasher:        hasher,
		Admin:         admin,
		AccessTTL:     cfg.AccessTTL,
		RefreshTTL:    cfg.RefreshTTL,
		SessionTTL:    cfg.SessionTTL,
		RevocationSLA: cfg.RevocationSLA,
		Ready:         ready,
		Env:           cfg.Env,
		Version:       version,
		LogLevel:      level,
		DemoMocks:     cfg.DemoMocks,
		Console:       cfg.ConsoleEnabled,
		Metrics:       m,

		MetricsHandler: metricsHandler,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("%s %s: %w", config.EnvListenAddr, cfg.ListenAddr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		// Above the handler's own limit, so oversized headers get its
		// problem+json 431 rather than net/http's plain-text one.
		MaxHeaderBytes: 2 << 20,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("relayauth starting", "env", cfg.Env, "addr", ln.Addr().String(), "alg", cfg.SigningAlg,
		"kid", keys.Active().ID(), "session_store", cfg.SessionBackend, "version", version)
	fmt.Fprintf(stdout, "relayauth: listening on http://%s\n", ln.Addr())
	if cfg.ConsoleEnabled {
		fmt.Fprintf(stdout, "relayauth: operator console at http://%s/console/\n", ln.Addr())
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("relayauth shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// metricsFor builds the auth_* metrics on a registry of their own when
// AUTH_SIGNING_METRICS_ENABLED is true; otherwise it returns nil metrics
// (a no-op), nothing is recorded and /metrics does not exist.
func metricsFor(cfg config.Config) (*metrics.Metrics, *prometheus.Registry) {
	if !cfg.MetricsEnabled {
		return nil, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return metrics.New(reg), reg
}

// stateAger is a store that keeps revocation state current from Redis.
type stateAger interface{ StateAge() time.Duration }

// reportStateAge keeps auth_revocation_state_age_seconds at the age of the
// stalest local revocation state, once a second, until ctx ends. It keeps
// growing through an outage, which is what the alert watches.
func reportStateAge(ctx context.Context, m *metrics.Metrics, sessions *sessionsredis.Store, keys stateAger) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		age := keys.StateAge()
		if sessions != nil {
			age = max(age, sessions.StateAge())
		}
		m.SetRevocationStateAge(age)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// devEnv overlays the environment for serve --dev: development, memory
// sessions, and an ephemeral signing key and admin password unless given.
// The generated secrets are printed once, loudly marked.
func devEnv(getenv func(string) string, stdout io.Writer) (func(string) string, error) {
	if env := getenv(config.EnvRelayEnv); env != "" && env != config.Development {
		return nil, fmt.Errorf("%w: --dev runs only in development, but %s=%s", errUsage, config.EnvRelayEnv, env)
	}
	overlay := map[string]string{
		config.EnvRelayEnv: config.Development,
		config.EnvBackend:  config.BackendMemory,
	}
	if getenv(config.EnvConsole) == "" {
		overlay[config.EnvConsole] = "true" // the console is on in --dev unless turned off
	}
	var printed []string
	if getenv(config.EnvSigningKey) == "" {
		alg := token.Alg(getenv(config.EnvSigningAlg))
		if alg == "" {
			alg = token.HS256
		}
		material, err := devKey(alg)
		if err != nil {
			return nil, err
		}
		overlay[config.EnvSigningKey] = material
		printed = append(printed, fmt.Sprintf("  %s=%s  (%s)", config.EnvSigningKey, material, alg))
	}
	if getenv(config.EnvAdminPassword) == "" {
		var b [18]byte
		_, _ = rand.Read(b[:])
		pw := base64.RawURLEncoding.EncodeToString(b[:])
		overlay[config.EnvAdminPassword] = pw
		printed = append(printed, fmt.Sprintf("  admin login: username %q, password %q", "admin", pw))
	}
	fmt.Fprintln(stdout, "!!! relayauth serve --dev: DEVELOPMENT MODE — NOT FOR PRODUCTION !!!")
	fmt.Fprintln(stdout, "!!! in-memory sessions; secrets below are ephemeral and shown only this once")
	for _, line := range printed {
		fmt.Fprintln(stdout, line)
	}
	return func(k string) string {
		if v, ok := overlay[k]; ok {
			return v
		}
		return getenv(k)
	}, nil
}

func devKey(alg token.Alg) (string, error) {
	if alg == token.HS256 {
		var b [32]byte
		_, _ = rand.Read(b[:])
		return base64.StdEncoding.EncodeToString(b[:]), nil
	}
	k, err := token.GenerateKey(alg)
	if err != nil {
		return "", fmt.Errorf("%s: %w", config.EnvSigningAlg, err)
	}
	der, err := k.MarshalPKCS8()
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(der), nil
}
