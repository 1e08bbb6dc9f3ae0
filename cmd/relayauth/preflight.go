package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/relayauth/relayauth/apikey/filestore"
	"github.com/relayauth/relayauth/internal/config"
	"github.com/relayauth/relayauth/internal/safety"
	"github.com/relayauth/relayauth/token"
)

// redisProbeTimeout bounds the preflight's PING of Redis, so that check
// answers promptly, and serve refuses promptly, when Redis is unreachable.
const redisProbeTimeout = 3 * time.Second

// ready is a configuration that passed the preflight: what serve starts
// from.
type ready struct {
	cfg      config.Config
	warnings []safety.Violation // staging findings: reported, not blocking
	keys     *token.KeySet
	// pinged is set when the configuration uses Redis and Redis answered.
	pinged bool
}

// preflight is every check serve makes before it starts, in one place:
// load → defaults → validate, the production safety rules, parsing the
// signing keys, parsing REDIS_URL, opening API_KEYS_FILE, and a PING of
// Redis bounded by redisProbeTimeout when sessions are kept there. check
// runs exactly this, and serve starts only when it passes, so the two
// cannot disagree. Every problem of every step is reported at once, a
// variable at fault in an earlier step not judged again by a later one.
// No message shows a secret: keys and passwords are relayauth.Secret, and
// REDIS_URL's password is scrubbed from what Redis clients report.
func preflight(ctx context.Context, getenv func(string) string) (ready, error) {
	cfg, err := config.Check(getenv)
	var lines []string
	faulted := map[string]bool{}
	for _, e := range config.Problems(err) {
		lines = append(lines, "  - "+e.Error())
		var p *config.Problem
		if errors.As(e, &p) {
			faulted[p.Var] = true
		}
	}
	var warnings []safety.Violation
	unsafe := map[string]bool{}
	for _, v := range safety.Check(cfg) {
		switch {
		case faulted[v.Var]:
			// already reported by the configuration check
		case v.Severity == safety.Error:
			lines = append(lines, "  - "+v.String())
			unsafe[v.Var] = true
		default:
			warnings = append(warnings, v)
		}
	}
	for v := range unsafe {
		faulted[v] = true
	}
	// The checks serve's start would otherwise make one at a time.
	var startup []error
	var keys *token.KeySet
	if !faulted[config.EnvSigningAlg] {
		var err error
		keys, err = keySet(cfg)
		startup = append(startup, config.Problems(err)...)
	}
	if cfg.APIKeysFile != "" {
		startup = append(startup, checkKeysFile(cfg.APIKeysFile))
	}
	pinged := false
	if cfg.RedisURL != "" && !faulted[config.EnvRedisURL] {
		target, err := parseRedisURL(cfg.RedisURL)
		switch {
		case err != nil:
			startup = append(startup, &config.Problem{Var: config.EnvRedisURL, Msg: scrubRedisPassword(err.Error(), cfg.RedisURL)})
		case cfg.SessionBackend == config.BackendRedis:
			err := pingRedis(ctx, target)
			if err != nil {
				startup = append(startup, &config.Problem{Var: config.EnvRedisURL,
					Msg: "names a Redis that could not be PINGed within " + redisProbeTimeout.String() + ": " + scrubRedisPassword(err.Error(), cfg.RedisURL)})
			}
			pinged = err == nil
		}
	}
	for _, e := range startup {
		if e == nil {
			continue
		}
		var p *config.Problem
		if errors.As(e, &p) && faulted[p.Var] {
			continue
		}
		lines = append(lines, "  - "+e.Error())
	}
	if len(lines) > 0 {
		noun := "problems"
		if len(lines) == 1 {
			noun = "problem"
		}
		return ready{}, fmt.Errorf("configuration is unsafe or invalid for %s (%d %s):\n%s",
			envName(cfg.Env), len(lines), noun, strings.Join(lines, "\n"))
	}
	if keys == nil {
		// Unreachable: keys fail only with a problem listed above.
		return ready{}, errors.New("internal error: no signing keys and no problem reported")
	}
	return ready{cfg: cfg, warnings: warnings, keys: keys, pinged: pinged}, nil
}

// checkKeysFile opens API_KEYS_FILE as serve would (which changes nothing
// on disk) and closes it: a missing directory, an unreadable, corrupt or
// too open file is reported now rather than when serve opens it.
func checkKeysFile(path string) error {
	s, err := filestore.Open(path)
	if err != nil {
		var fe *filestore.FileError
		if errors.As(err, &fe) {
			return &config.Problem{Var: config.EnvAPIKeysFile, Msg: fe.Path + ": " + fe.Problem}
		}
		return &config.Problem{Var: config.EnvAPIKeysFile, Msg: err.Error()}
	}
	_ = s.Close()
	return nil
}

// pingRedis connects to the Redis the target names and PINGs it, for at
// most redisProbeTimeout.
func pingRedis(ctx context.Context, target redisTarget) error {
	ctx, cancel := context.WithTimeout(ctx, redisProbeTimeout)
	defer cancel()
	c := target.probe()
	defer c.Close()
	return c.Ping(ctx).Err()
}

func envName(env string) string {
	if env == "" {
		return config.Development
	}
	return env
}

// demoSigningSecret is the mock signer's key: published in this source, so
// tokens it signs prove nothing. It exists for reproducible local demos
// (tokens survive restarts) and is refused in production twice over: by
// the safety validator and here.
var demoSigningSecret = sha256.Sum256([]byte("relayauth demo signing key: public, never for production"))

// keySet parses the signing key and every previous key. Its error joins
// one *config.Problem per key that does not parse, so that all of them
// are reported at once; no problem shows key material.
func keySet(cfg config.Config) (*token.KeySet, error) {
	alg := token.Alg(cfg.SigningAlg)
	material := []byte(cfg.SigningKey.Reveal())
	if cfg.MockSigning {
		if cfg.Env == config.Production {
			return nil, &config.Problem{Var: config.EnvMockSigning, Msg: "is on, but the mock signer does not exist in production"}
		}
		alg, material = token.HS256, demoSigningSecret[:]
	}
	var errs []error
	active, err := token.ParsePrivateKey(alg, material)
	if err != nil {
		errs = append(errs, &config.Problem{Var: config.EnvSigningKey, Msg: fmt.Sprintf("is not a usable %s signing key: %v", alg, err)})
	}
	var previous []*token.Key
	for i, material := range cfg.PreviousKeys {
		k, err := token.ParsePrivateKey(alg, []byte(material.Reveal()))
		if err != nil {
			errs = append(errs, &config.Problem{Var: config.EnvPreviousKeys, Msg: fmt.Sprintf("entry %d is not a usable %s key: %v", i+1, alg, err)})
			continue
		}
		previous = append(previous, k)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	ks, err := token.NewKeySet(active, previous...)
	if err != nil {
		return nil, &config.Problem{Var: config.EnvPreviousKeys, Msg: fmt.Sprintf("cannot share a key set with %s: %v", config.EnvSigningKey, err)}
	}
	return ks, nil
}
