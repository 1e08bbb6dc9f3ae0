package redisstore

import "github.com/relayauth/relayauth/apikey"

// keys builds every Redis key the store uses; no other code concatenates
// them. The package documentation describes the layout and the choice of
// hash tags. Tenants, ids and hashes reach here validated: none contains
// a brace.
type keys struct{ prefix string }

func (k keys) record(tenant, id string) string { return k.prefix + "ak:{" + tenant + "}:k:" + id }
func (k keys) ids(tenant string) string        { return k.prefix + "ak:{" + tenant + "}:ids" }
func (k keys) names(tenant string) string      { return k.prefix + "ak:{" + tenant + "}:names" }
func (k keys) idIndex(id string) string        { return k.prefix + "ak:id:{" + id + "}" }
func (k keys) hashIndex(h apikey.Hash) string  { return k.prefix + "ak:h:{" + h.String() + "}" }
func (k keys) tenants() string                 { return k.prefix + "ak:tenants" }

// deleted is the marker a Delete leaves in the tenant's slot (see
// deleteScript).
func (k keys) deleted(tenant, id string) string {
	return k.prefix + "ak:{" + tenant + "}:deleted:" + id
}

// changes is the pub/sub channel of key changes; changed the stream that
// reconciliation reads (notify.go).
func (k keys) changes() string { return k.prefix + "apikey-changes" }
func (k keys) changed() string { return k.prefix + "apikey-changed" }

// owner is the value of a hash index entry: the key's id and tenant.
func owner(id, tenant string) string { return id + " " + tenant }
