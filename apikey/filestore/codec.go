package filestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/relayauth/relayauth/apikey"
)

// The document's marker and the version this code reads and writes.
const (
	Format  = "relayauth-apikeys"
	Version = 1
)

// MaxFileSize bounds what Open reads: far more than any real key file.
const MaxFileSize = 64 << 20

// ErrBadFile is matched (errors.Is) by every FileError.
var ErrBadFile = errors.New("unusable API key file")

// FileError is a key file the store refuses to use, and why. The store
// never writes a file it refused.
type FileError struct {
	Path    string
	Problem string
}

func (e *FileError) Error() string { return "API_KEYS_FILE " + e.Path + ": " + e.Problem }

// Unwrap makes errors.Is(err, ErrBadFile) true.
func (e *FileError) Unwrap() error { return ErrBadFile }

// encode writes the document for keys, oldest first, one key per line.
func encode(keys []apikey.Key) ([]byte, error) {
	var list bytes.Buffer
	list.WriteString("[")
	for i := range keys {
		b, err := json.Marshal(&keys[i])
		if err != nil {
			return nil, err
		}
		if i > 0 {
			list.WriteString(",")
		}
		list.WriteString("\n    ")
		list.Write(b)
	}
	if len(keys) > 0 {
		list.WriteString("\n  ")
	}
	list.WriteString("]")
	sum, err := checksum(list.Bytes())
	if err != nil {
		return nil, err
	}
	var doc bytes.Buffer
	fmt.Fprintf(&doc, "{\n  \"format\": %q,\n  \"version\": %d,\n  \"checksum\": %q,\n  \"keys\": ", Format, Version, sum)
	doc.Write(list.Bytes())
	doc.WriteString("\n}\n")
	return doc.Bytes(), nil
}

// checksum is "sha256:" and the hex SHA-256 of the compact form of the
// keys array, so that whitespace does not matter and everything else does.
func checksum(keys []byte) (string, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, keys); err != nil {
		return "", err
	}
	h := sha256.Sum256(compact.Bytes())
	return "sha256:" + hex.EncodeToString(h[:]), nil
}

// decode reads a document into a memory store. Its errors are problems
// for a FileError: they say what is wrong, and quote nothing but short
// markers.
func decode(data []byte) (*apikey.MemoryStore, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the file is empty (truncated?)")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("not valid JSON at byte %d (truncated or corrupted?)", syn.Offset)
		}
		return nil, errors.New("not a Relay Auth API key file (not a JSON object)")
	}
	rawFormat, ok := top["format"]
	if !ok {
		return nil, errors.New("not a Relay Auth API key file (missing format marker)")
	}
	var format string
	if err := json.Unmarshal(rawFormat, &format); err != nil {
		return nil, fmt.Errorf("not a Relay Auth API key file (format %s, want %q)", short(rawFormat), Format)
	}
	if format != Format {
		return nil, fmt.Errorf("not a Relay Auth API key file (format %s, want %q)", short([]byte(format)), Format)
	}
	var version int
	if raw, ok := top["version"]; !ok {
		return nil, errors.New("missing version")
	} else if err := json.Unmarshal(raw, &version); err != nil || version < 1 {
		return nil, fmt.Errorf("invalid version %s", short(raw))
	}
	if version > Version {
		return nil, fmt.Errorf("written by a newer Relay Auth (file version %d; this one reads version %d): upgrade, or restore a backup; the file is left as it is", version, Version)
	}
	for name := range top {
		switch name {
		case "format", "version", "checksum", "keys":
		default:
			return nil, fmt.Errorf("unknown field %s", short([]byte(name)))
		}
	}
	rawKeys, ok := top["keys"]
	if !ok {
		return nil, errors.New("missing keys")
	}
	var want string
	if err := json.Unmarshal(top["checksum"], &want); err != nil || want == "" {
		return nil, errors.New("missing checksum")
	}
	if got, err := checksum(rawKeys); err != nil || got != want {
		return nil, errors.New("checksum mismatch: the file was corrupted or edited by hand")
	}
	dec := json.NewDecoder(bytes.NewReader(rawKeys))
	dec.DisallowUnknownFields()
	var keys []apikey.Key
	if err := dec.Decode(&keys); err != nil {
		return nil, fmt.Errorf("the key list does not decode: %v", err)
	}
	m := apikey.NewMemoryStore()
	for i, k := range keys {
		if err := m.Create(context.Background(), k); err != nil {
			return nil, fmt.Errorf("key %d (%s): %v", i, short([]byte(k.ID)), err)
		}
	}
	return m, nil
}

// short quotes at most 40 bytes of b.
func short(b []byte) string {
	s := string(b)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("%q", strings.ToValidUTF8(s, "?"))
}
