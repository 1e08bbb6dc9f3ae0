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

// redisTarget is a parsed REDIS_URL: exactly one of its options is set.
type redisTarget struct {
	node     *redis.Options
	cluster  *redis.ClusterOptions
	sentinel *redis.FailoverOptions
}

// client makes the client the target describes. It does not connect.
func (t redisTarget) client() redis.UniversalClient {
	switch {
	case t.sentinel != nil:
		return redis.NewFailoverClient(t.sentinel)
	case t.cluster != nil:
		return redis.NewClusterClient(t.cluster)
	default:
		return redis.NewClient(t.node)
	}
}

// probe makes a client of the target for one PING: one dial attempt and
// no retries, so that an unreachable Redis is reported at once.
func (t redisTarget) probe() redis.UniversalClient {
	switch {
	case t.sentinel != nil:
		o := *t.sentinel
		o.DialerRetries, o.MaxRetries = 1, -1
		return redis.NewFailoverClient(&o)
	case t.cluster != nil:
		o := *t.cluster
		o.DialerRetries, o.MaxRetries = 1, -1
		return redis.NewClusterClient(&o)
	default:
		o := *t.node
		o.DialerRetries, o.MaxRetries = 1, -1
		return redis.NewClient(&o)
	}
}

// redisClient makes the client REDIS_URL describes: one node, a Redis
// Cluster (several comma-separated seed addresses), or a Sentinel-managed
// primary (redis-sentinel://sentinels/master), which follows failovers.
func redisClient(raw string) (redis.UniversalClient, error) {
	t, err := parseRedisURL(raw)
	if err != nil {
		return nil, err
	}
	return t.client(), nil
}

// parseRedisURL parses REDIS_URL in one of its three forms. Its errors
// never quote the URL's credentials.
func parseRedisURL(raw string) (redisTarget, error) {
	switch {
	case strings.HasPrefix(raw, "redis-sentinel://"):
		opt, err := parseSentinelURL(raw)
		if err != nil {
			return redisTarget{}, err
		}
		return redisTarget{sentinel: opt}, nil
	case strings.Contains(raw, ","):
		var addrs []string
		for _, a := range strings.Split(raw, ",") {
			a = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(a), "redis://"))
			if strings.Contains(a, "@") {
				// Quote nothing: what precedes the @ is a password.
				return redisTarget{}, fmt.Errorf("has a cluster address with credentials, which the cluster form does not take; REDIS_URL takes %s", redisURLForms)
			}
			if err := checkHostPort(a); err != nil {
				return redisTarget{}, fmt.Errorf("cluster address %q %v; REDIS_URL takes %s", a, err, redisURLForms)
			}
			addrs = append(addrs, a)
		}
		return redisTarget{cluster: &redis.ClusterOptions{Addrs: addrs}}, nil
	default:
		opt, err := redis.ParseURL(raw)
		if err != nil {
			return redisTarget{}, fmt.Errorf("must be %s (%s)", redisURLForms, redisURLProblem(raw, err))
		}
		return redisTarget{node: opt}, nil
	}
}

// redisURLProblem says what redis.ParseURL found wrong with raw without
// repeating raw: url.Parse's errors quote the whole URL, password included,
// and some of its reasons quote part of the user info.
func redisURLProblem(raw string, err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return "not a valid URL: check the scheme, the port (a number) and any %-escapes"
	}
	u, perr := url.Parse(raw)
	if perr == nil && u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix" {
		return fmt.Sprintf("scheme %q is not redis, rediss or unix", u.Scheme)
	}
	return scrubRedisPassword(err.Error(), raw)
}

// scrubRedisPassword replaces the password raw carries, if any, in msg.
func scrubRedisPassword(msg, raw string) string {
	if pw := redisPassword(raw); pw != "" {
		msg = strings.ReplaceAll(msg, pw, "[REDACTED]")
	}
	return msg
}

// checkHostPort reports whether a is host:port with a port number.
func checkHostPort(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return errors.New("is not host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("has a port that is not a number from 1 to 65535")
	}
	return nil
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
		if err := checkHostPort(h); err != nil {
			return nil, bad(fmt.Sprintf("sentinel address %q %v", h, err))
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

// redisPassword returns the password raw carries, if any, so that
// messages about REDIS_URL can be scrubbed of it.
func redisPassword(raw string) string {
	if strings.HasPrefix(raw, "redis-sentinel://") {
		hosts, _, _ := strings.Cut(strings.TrimPrefix(raw, "redis-sentinel://"), "/")
		if at := strings.LastIndexByte(hosts, '@'); at >= 0 {
			if u, err := url.Parse("redis://" + hosts[:at] + "@x"); err == nil && u.User != nil {
				pw, _ := u.User.Password()
				return pw
			}
		}
		return ""
	}
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		pw, _ := u.User.Password()
		return pw
	}
	return ""
}
