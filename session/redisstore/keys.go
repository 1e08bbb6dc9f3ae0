package redisstore

import "strings"

// keys builds every Redis key and epoch field name the store uses; no
// other code concatenates them. The package documentation describes the
// layout and the choice of hash tags.
type keys struct{ prefix string }

func (k keys) session(id string) string { return k.prefix + "s:{" + tag(id) + "}" }

func (k keys) tenantIndex(tenant string) string {
	return k.prefix + "t:{" + tag(tenant) + "}:all"
}

func (k keys) subjectIndex(tenant, subject string) string {
	return k.prefix + "t:{" + tag(tenant) + "}:u:" + escape(subject)
}

// emptyTag stands for "" inside a hash tag: Redis Cluster ignores an
// empty "{}" and hashes the whole key, which would split one tenant's
// keys over several slots. escape never produces it ('%' becomes "%25").
const emptyTag = "%00"

// tag is escape for the contents of a hash tag.
func tag(s string) string {
	if s == "" {
		return emptyTag
	}
	return escape(s)
}

// untag is the inverse of tag.
func untag(s string) (string, bool) {
	if s == emptyTag {
		return "", true
	}
	return unescape(s)
}

func (k keys) tenants() string { return k.prefix + "tenants" }

// revocations is the pub/sub channel of revocations; revokedLog the
// stream that reconciliation reads (propagate.go).
func (k keys) revocations() string { return k.prefix + "revocations" }
func (k keys) revokedLog() string  { return k.prefix + "revoked" }
func (k keys) epochs() string      { return k.prefix + "epochs" }

// forgetLease is held (and expired by Redis) by the store whose turn it
// is to forget old epochs.
func (k keys) forgetLease() string { return k.prefix + "epochs:forget" }

// schema holds the layout version; migrationCursor the position of an
// unfinished MigrateSchemaV2.
func (k keys) schema() string          { return k.prefix + "schema" }
func (k keys) migrationCursor() string { return k.prefix + "migration:schema-v2:cursor" }

// parseSession is the inverse of session: the id a session key names; ok
// is false for any other key.
func (k keys) parseSession(key string) (id string, ok bool) {
	inner, found := strings.CutPrefix(key, k.prefix+"s:{")
	if !found || !strings.HasSuffix(inner, "}") {
		return "", false
	}
	id, ok = untag(inner[:len(inner)-1])
	return id, ok && k.session(id) == key
}

// isIndex reports whether key is a tenant or subject index set.
func (k keys) isIndex(key string) bool {
	inner, found := strings.CutPrefix(key, k.prefix+"t:{")
	if !found {
		return false
	}
	tenant, tail, found := strings.Cut(inner, "}")
	if _, ok := untag(tenant); !found || !ok {
		return false
	}
	if tail == ":all" {
		return true
	}
	subject, found := strings.CutPrefix(tail, ":u:")
	_, ok := unescape(subject)
	return found && ok
}

// Fields of the epochs hash.
const (
	fieldGlobal  = "g"
	fieldVersion = "v"
	fieldBoot    = "boot"
)

func tenantField(tenant string) string { return "t:" + escape(tenant) }

func subjectField(tenant, subject string) string {
	return "u:" + escape(tenant) + ":" + escape(subject)
}

// epochField names the epochs hash field of sc's kind for tenant and
// subject.
func epochField(kind scopeKind, tenant, subject string) string {
	switch kind {
	case kindTenant:
		return tenantField(tenant)
	case kindSubject:
		return subjectField(tenant, subject)
	}
	return fieldGlobal
}

// parseEpochField is the inverse of the field functions; ok is false for
// the version and boot fields and anything malformed.
func parseEpochField(f string) (scope, bool) {
	switch {
	case f == fieldGlobal:
		return scope{kind: kindAll}, true
	case strings.HasPrefix(f, "t:"):
		t, ok := unescape(f[2:])
		return scope{kind: kindTenant, tenant: t}, ok
	case strings.HasPrefix(f, "u:"):
		te, se, found := strings.Cut(f[2:], ":")
		t, ok1 := unescape(te)
		s, ok2 := unescape(se)
		return scope{kindSubject, t, s}, found && ok1 && ok2
	}
	return scope{}, false
}

// escape percent-encodes the four characters that mean something in a
// key: the hash-tag braces, the ':' separator, and '%' itself, which makes
// the encoding reversible. Ordinary ids and names pass through unchanged
// and readable.
func escape(s string) string {
	if !strings.ContainsAny(s, "%{}:") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b.WriteString("%25")
		case '{':
			b.WriteString("%7B")
		case '}':
			b.WriteString("%7D")
		case ':':
			b.WriteString("%3A")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func unescape(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, !strings.ContainsAny(s, "{}:")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		switch s[i+1 : i+3] {
		case "25":
			b.WriteByte('%')
		case "7B":
			b.WriteByte('{')
		case "7D":
			b.WriteByte('}')
		case "3A":
			b.WriteByte(':')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}
