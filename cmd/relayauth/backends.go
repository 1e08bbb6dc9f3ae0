package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/apikey/filestore"
	keysredis "github.com/relayauth/relayauth/apikey/redisstore"
	"github.com/relayauth/relayauth/internal/config"
	"github.com/relayauth/relayauth/internal/migrate"
	"github.com/relayauth/relayauth/session"
	sessionsredis "github.com/relayauth/relayauth/session/redisstore"
)

// backends are the stores of one process: sessions, API keys, and the
// Redis client they may share.
type backends struct {
	sessions      session.Store
	redisSessions *sessionsredis.Store // when sessions are on Redis
	keys          apikey.Store
	keysFile      *filestore.Store // when API_KEYS_FILE is set
	redis         redis.UniversalClient
}

// openBackends opens what cfg names. API keys live in API_KEYS_FILE when
// it is set, else beside the sessions (Redis in production, memory in
// development).
// observe, when not nil, is told how long each revocation made elsewhere
// took to reach this process.
func openBackends(ctx context.Context, cfg config.Config, observe ...func(time.Duration)) (*backends, error) {
	var propagation []sessionsredis.Option
	for _, o := range observe {
		propagation = append(propagation, sessionsredis.WithPropagationObserver(o))
	}
	b := &backends{}
	ok := false
	defer func() {
		if !ok {
			b.Close()
		}
	}()
	if cfg.SessionBackend == config.BackendRedis || (cfg.RedisURL != "" && cfg.APIKeysFile == "") {
		client, err := redisClient(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvRedisURL, err)
		}
		b.redis = client
	}
	if cfg.SessionBackend == config.BackendRedis {
		opts := append([]sessionsredis.Option{sessionsredis.WithPrefix(cfg.RedisPrefix), sessionsredis.WithFreshness(cfg.RevocationSLA),
			sessionsredis.WithMaxLifetime(cfg.SessionTTL)}, propagation...)
		s, err := sessionsredis.New(ctx, b.redis, opts...)
		if err != nil {
			return nil, err
		}
		b.sessions, b.redisSessions = s, s
	} else {
		b.sessions = session.NewMemoryStore(session.WithJanitor(time.Minute), session.WithMaxLifetime(cfg.SessionTTL))
	}
	switch {
	case cfg.APIKeysFile != "":
		f, err := filestore.Open(cfg.APIKeysFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvAPIKeysFile, err)
		}
		b.keys, b.keysFile = f, f
	case cfg.SessionBackend == config.BackendRedis:
		k, err := keysredis.New(ctx, b.redis, keysredis.WithPrefix(cfg.RedisPrefix))
		if err != nil {
			return nil, err
		}
		b.keys = k
	default:
		b.keys = apikey.NewMemoryStore()
	}
	ok = true
	return b, nil
}

// persistentKeys reports whether keys outlive the process.
func (b *backends) persistentKeys() bool {
	_, memory := b.keys.(*apikey.MemoryStore)
	return !memory
}

// migrations are the data migrations this configuration can run.
func (b *backends) migrations(cfg config.Config) migrate.Set {
	set := migrate.Set{
		migrate.APIKeysFileToRedis: migrate.Unavailable("needs API_KEYS_FILE (the source) and REDIS_URL (the destination)"),
		migrate.SchemaV2:           migrate.Unavailable("needs SESSION_STORE_BACKEND=redis"),
	}
	if b.keysFile != nil && cfg.RedisURL != "" {
		set[migrate.APIKeysFileToRedis] = func(ctx context.Context) (migrate.Result, error) {
			client := b.redis
			if client == nil {
				c, err := redisClient(cfg.RedisURL)
				if err != nil {
					return migrate.Result{}, fmt.Errorf("%s: %w", config.EnvRedisURL, err)
				}
				defer c.Close()
				client = c
			}
			dst, err := keysredis.New(ctx, client, keysredis.WithPrefix(cfg.RedisPrefix))
			if err != nil {
				return migrate.Result{}, err
			}
			defer dst.Close()
			return migrate.CopyAPIKeys(b.keysFile, dst)(ctx)
		}
	}
	if b.redisSessions != nil {
		set[migrate.SchemaV2] = func(ctx context.Context) (migrate.Result, error) {
			r, err := b.redisSessions.MigrateSchemaV2(ctx, 500, nil)
			return migrate.Result{Migrated: r.Migrated, Skipped: r.Scanned - r.Migrated,
				OrphansRemoved: r.OrphansRemoved, Resumed: r.Resumed, Complete: r.Complete}, err
		}
	}
	return set
}

// Close closes the stores, then the Redis client they share.
func (b *backends) Close() error {
	var errs []error
	if b.sessions != nil {
		errs = append(errs, b.sessions.Close())
	}
	if b.keys != nil {
		errs = append(errs, b.keys.Close())
	}
	if b.redis != nil {
		errs = append(errs, b.redis.Close())
	}
	return errors.Join(errs...)
}
