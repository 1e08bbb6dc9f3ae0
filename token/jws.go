package token

import (
	"strings"
	"sync"
)

// The JWS layer (RFC 7515 compact serialization): size cap, segment split,
// strict base64url, protected header rules, key lookup and the signature.
// Nothing here looks at claims; a token whose signature fails never reaches
// the claims parser, so no caller ever sees "expired" for a forged token
// (CVE-2024-51744).

// maxHeaderSize bounds the decoded protected header. Ours are about 80
// bytes; 1 KiB leaves room for foreign issuers' extra parameters.
const maxHeaderSize = 1024

// scratch is per-call working memory, pooled so that a verification
// allocates only what it returns.
type scratch struct {
	hdr  [maxHeaderSize]byte
	sig  [64]byte
	in   []byte // copy of the signing input: hash.Hash.Write needs a []byte
	body []byte // decoded payload
	list [maxListItems]span
	seen memberSet
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// putScratch returns sc to the pool unless a caller's large maxSize (only
// VerifyJWS allows one) grew its buffers beyond what Verify ever needs.
func putScratch(sc *scratch) {
	if cap(sc.in) > MaxTokenSizeLimit || cap(sc.body) > MaxTokenSizeLimit {
		return
	}
	scratchPool.Put(sc)
}

// resize returns b with length n, reusing its array when large enough.
func resize(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n, max(n, 512))
	}
	return b[:n]
}

// header holds what we use of the protected header. kid points into the
// scratch header buffer.
type header struct {
	alg    Alg   // a supported alg, or "" with algErr set
	algErr error // alg missing, "none" or unsupported
	kid    []byte
	hasKid bool
	typ    Type // 0 if absent or not a type we know
	hasTyp bool
}

// headerNames are the parameters parseHeader acts on. A name equal to one
// of them under case folding but not identical is rejected, so "ALG" or
// "Kid" can never smuggle a second value past a case-insensitive consumer.
var headerNames = []string{"alg", "kid", "typ", "crit", "jku", "x5u", "jwk", "x5c"}

const (
	hdrAlg uint32 = 1 << iota
	hdrKid
	hdrTyp
)

// parseHeader parses the decoded protected header b.
//
//   - crit is rejected: we implement no extension, and RFC 7515 §4.1.11
//     requires rejecting a crit we do not understand; refusing all crit is
//     simpler and loses nothing.
//   - jku, x5u, jwk and x5c are rejected: keys come only from our KeySet, and
//     a token naming its own key (Wycheproof "embedded jwk") is an attack.
//     Nothing is ever fetched.
//   - alg, kid and typ must be strings; other parameters are skipped.
func parseHeader(b []byte, h *header) error {
	s := scanner{b: b}
	var seen memberSet
	if !s.consume('{') {
		return errHeaderJSON
	}
	if !s.consume('}') {
		for members := 0; ; members++ {
			if members == maxMembers {
				return errHeaderJSON
			}
			name, ok := s.str()
			if !ok || !s.consume(':') {
				return errHeaderJSON
			}
			var bit uint32
			switch string(b[name.start:name.end]) {
			case "alg":
				bit = hdrAlg
			case "kid":
				bit = hdrKid
			case "typ":
				bit = hdrTyp
			case "crit":
				return errHeaderCrit
			case "jku", "x5u", "jwk", "x5c":
				return errHeaderKeyRef
			}
			if bit == 0 {
				if !seen.addUnknown(b, name, headerNames) {
					return errHeaderDup
				}
				if !s.skip(1) {
					return errHeaderJSON
				}
			} else {
				if !seen.addKnown(bit) {
					return errHeaderDup
				}
				if s.peek() != '"' {
					return errHeaderJSON
				}
				v, ok := s.str()
				if !ok {
					return errHeaderJSON
				}
				val := b[v.start:v.end]
				switch bit {
				case hdrAlg:
					h.alg, h.algErr = parseAlg(val)
				case hdrKid:
					h.kid, h.hasKid = val, true
				case hdrTyp:
					h.typ, h.hasTyp = parseTyp(val), true
				}
			}
			if s.consume(',') {
				continue
			}
			if s.consume('}') {
				break
			}
			return errHeaderJSON
		}
	}
	if !s.atEnd() {
		return errHeaderJSON
	}
	if seen.known&hdrAlg == 0 {
		h.algErr = errAlgMissing
	}
	return nil
}

// parseAlg maps an alg value to a supported Alg. Matching is exact (JWS
// algorithm names are case-sensitive); "none" is refused in every casing.
func parseAlg(v []byte) (Alg, error) {
	switch string(v) {
	case string(HS256):
		return HS256, nil
	case string(EdDSA):
		return EdDSA, nil
	case string(ES256):
		return ES256, nil
	}
	if equalFold(v, "none") {
		return "", errAlgNone
	}
	return "", errAlgUnknown
}

// parseTyp maps a typ value to a Type: "at+jwt" (RFC 9068 §2.1) or
// "rt+jwt", with or without the "application/" prefix (RFC 7515 §4.1.9).
func parseTyp(v []byte) Type {
	switch string(v) {
	case "at+jwt", "application/at+jwt":
		return Access
	case "rt+jwt", "application/rt+jwt":
		return Refresh
	}
	return 0
}

// verifyCompact checks a compact JWS up to and including its signature and
// returns its payload segment (still base64url) and header. The key is the
// one named by kid in ks, or fixed when non-nil (tests replaying vectors
// without a kid).
func verifyCompact(ks *KeySet, fixed *Key, token string, maxSize int, sc *scratch) (string, header, error) {
	var h header
	// The size cap comes before anything else, and the dot search stops at
	// the third dot: a huge or many-dots token (CVE-2025-30204) costs a
	// length compare and at most one pass over 8 KiB.
	if len(token) > maxSize {
		return "", h, ErrTooLarge
	}
	dot1 := strings.IndexByte(token, '.')
	if dot1 < 0 {
		return "", h, errSegments
	}
	dot2 := strings.IndexByte(token[dot1+1:], '.')
	if dot2 < 0 {
		return "", h, errSegments
	}
	dot2 += dot1 + 1
	if strings.IndexByte(token[dot2+1:], '.') >= 0 {
		return "", h, errSegments
	}
	hdrSeg, paySeg, sigSeg := token[:dot1], token[dot1+1:dot2], token[dot2+1:]

	var k *Key
	if hit, ok := ks.lookupHeader(hdrSeg, fixed); ok {
		k, h = hit.key, header{alg: hit.key.alg, typ: hit.typ, hasTyp: true, hasKid: true}
	} else {
		var err error
		if k, err = parseHeaderSegment(ks, fixed, hdrSeg, &h, sc); err != nil {
			return "", h, err
		}
	}
	// The alg is pinned by the key (RFC 8725 §3.1): an HS256 token naming
	// an EdDSA or ES256 key fails here, before any MAC is computed with
	// public key bytes.
	if h.alg != k.alg {
		return "", h, errAlgMismatch
	}

	size := sigSize(k.alg)
	if len(sigSeg) != (size*8+5)/6 {
		return "", h, ErrSignature
	}
	if _, ok := b64Decode(sc.sig[:], sigSeg); !ok {
		return "", h, errBase64
	}
	sc.in = append(sc.in[:0], token[:dot2]...)
	if !k.verify(sc.in, sc.sig[:size]) {
		return "", h, ErrSignature
	}
	return paySeg, h, nil
}

// lookupHeader finds a header segment among those our keys emit.
func (ks *KeySet) lookupHeader(seg string, fixed *Key) (knownHeader, bool) {
	if ks == nil || fixed != nil {
		return knownHeader{}, false
	}
	hit, ok := ks.known[seg]
	return hit, ok
}

// parseHeaderSegment decodes and parses a protected header segment and
// returns the key it names (or fixed).
func parseHeaderSegment(ks *KeySet, fixed *Key, seg string, h *header, sc *scratch) (*Key, error) {
	n, ok := decodedLen(len(seg))
	if !ok {
		return nil, errBase64
	}
	if n > maxHeaderSize {
		return nil, errHeaderTooBig
	}
	if n, ok = b64Decode(sc.hdr[:], seg); !ok {
		return nil, errBase64
	}
	if err := parseHeader(sc.hdr[:n], h); err != nil {
		return nil, err
	}
	if h.algErr != nil {
		return nil, h.algErr
	}
	if fixed != nil {
		return fixed, nil
	}
	if ks == nil {
		return nil, errNoKeySet
	}
	if !h.hasKid {
		return nil, errKidMissing
	}
	// kid is only ever a map key: never a path, a query or a URL.
	k := ks.byKID[string(h.kid)]
	if k == nil {
		return nil, ErrUnknownKey
	}
	return k, nil
}

// VerifyJWS verifies the signature and header rules of a compact JWS with
// the keys of ks and returns its decoded payload, without reading it as JWT
// claims and without requiring typ. maxSize <= 0 means DefaultMaxTokenSize.
// Use Verifier for tokens; this is the layer that JOSE test vectors exercise.
func VerifyJWS(ks *KeySet, compact string, maxSize int) ([]byte, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxTokenSize
	}
	return verifyJWS(ks, nil, compact, maxSize)
}

func verifyJWS(ks *KeySet, fixed *Key, compact string, maxSize int) ([]byte, error) {
	sc := getScratch()
	defer putScratch(sc)
	paySeg, _, err := verifyCompact(ks, fixed, compact, maxSize, sc)
	if err != nil {
		return nil, err
	}
	n, ok := decodedLen(len(paySeg))
	if !ok {
		return nil, errBase64
	}
	payload := make([]byte, n)
	if _, ok := b64Decode(payload, paySeg); !ok {
		return nil, errBase64
	}
	return payload, nil
}
