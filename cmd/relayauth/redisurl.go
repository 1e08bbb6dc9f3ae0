package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

const redisURLForms = "redis://[user:password@]host:port[/db] (one node), " +
	"host:port,host:port,... (a Cluster), or redis-sentinel://[user:password@]host:port[,host:port...]/master[/db] (Sentinel)"

// redisClient makes the client REDIS_URL describes: one node, a Redis
// Cluster (several comma-separated seed addresses), or a Sentinel-managed
// primary (redis-sentinel://sentinels/master), which follows failovers.
func redisClient(raw string) (redis.UniversalClient, error) {
	switch {
	case strings.HasPrefix(raw, "redis-sentinel://"):
		opt, err := parseSentinelURL(raw)
		if err != nil {
			return nil, err
		}
		return redis.NewFailoverClient(opt), nil
	case strings.Contains(raw, ","):
		var addrs []string
		for _, a := range strings.Split(raw, ",") {
			a = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(a), "redis://"))
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, fmt.Errorf("cluster address %q must be host:port; REDIS_URL takes %s", a, redisURLForms)
			}
			addrs = append(addrs, a)
		}
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs}), nil
	default:
		opt, err := redis.ParseURL(raw)
		if err != nil {
			return nil, errors.New("must be " + redisURLForms)
		}
		return redis.NewClient(opt), nil
	}
}

// parseSentinelURL parses redis-sentinel://[user:pass@]h:p[,h:p...]/master[/db].
// The credentials are the primary's; the sentinels are reached without.
func parseSentinelURL(raw string) (*redis.FailoverOptions, error) {
	bad := func(why string) error { return fmt.Errorf("sentinel URL: %s; REDIS_URL takes %s", why, redisURLForms) }
	rest := strings.TrimPrefix(raw, "redis-sentinel://")
	hosts, path, _ := strings.Cut(rest, "/")
	opt := &redis.FailoverOptions{}
	if at := strings.LastIndexByte(hosts, '@'); at >= 0 {
		u, err := url.Parse("redis://" + hosts[:at] + "@x")
		if err != nil || u.User == nil {
			return nil, bad("malformed credentials")
		}
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
		hosts = hosts[at+1:]
	}
	for _, h := range strings.Split(hosts, ",") {
		if _, _, err := net.SplitHostPort(h); err != nil {
			return nil, bad(fmt.Sprintf("sentinel address %q is not host:port", h))
		}
		opt.SentinelAddrs = append(opt.SentinelAddrs, h)
	}
	master, db, hasDB := strings.Cut(path, "/")
	if master == "" {
		return nil, bad("no master name")
	}
	opt.MasterName = master
	if hasDB {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return nil, bad(fmt.Sprintf("database %q is not a number", db))
		}
		opt.DB = n
	}
	return opt, nil
}
