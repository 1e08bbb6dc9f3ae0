package token

import (
	"encoding/base64"
	"encoding/json"
)

// jwk is the public form of one key (RFC 7517 §4, RFC 7518 §6.2, RFC 8037
// §2). It has no field for private or symmetric material ("d", "k"), so no
// code path can put one in a JWKS.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	Kid string `json:"kid"`
	Alg Alg    `json:"alg"`
	Use string `json:"use"`
}

// JWKS returns the RFC 7517 JSON Web Key Set of the public keys of the
// set's EdDSA and ES256 keys, active first, each with kid, alg and
// use "sig". HS256 keys are never published.
func (ks *KeySet) JWKS() ([]byte, error) {
	keys := []jwk{}
	enc := base64.RawURLEncoding.EncodeToString
	for _, k := range ks.keys {
		switch k.alg {
		case EdDSA:
			keys = append(keys, jwk{Kty: "OKP", Crv: "Ed25519", X: enc(k.edPub), Kid: k.kid, Alg: k.alg, Use: "sig"})
		case ES256:
			x, y, err := ecCoordinates(k.ecPub)
			if err != nil {
				return nil, err
			}
			keys = append(keys, jwk{Kty: "EC", Crv: "P-256", X: enc(x), Y: enc(y), Kid: k.kid, Alg: k.alg, Use: "sig"})
		}
	}
	return json.Marshal(struct {
		Keys []jwk `json:"keys"`
	}{keys})
}
