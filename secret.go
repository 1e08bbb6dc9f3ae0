package relayauth

import "log/slog"

// Secret holds a credential (password, token, key). Its String, GoString
// and LogValue methods redact it, so a Secret that reaches a log line or a
// formatted error shows as "[REDACTED]" and never as its value.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the secret's value. Call it only where the value is used.
func (s Secret) Reveal() string { return string(s) }

func (Secret) String() string               { return redacted }
func (Secret) GoString() string             { return redacted }
func (Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
