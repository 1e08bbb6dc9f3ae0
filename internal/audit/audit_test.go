package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestEventFields(t *testing.T) {
	var buf bytes.Buffer
	a := New(slog.New(slog.NewJSONHandler(&buf, nil)))
	ctx := WithRequest(context.Background(), "req-1", "192.0.2.7")
	a.Log(ctx, Event{Action: "session.revoke", Outcome: Denied, Actor: "bob", ActorTenant: "acme", Target: "s1", Reason: "not yours"})
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"msg": "audit", "level": "WARN", "kind": "audit", "action": "session.revoke", "outcome": "denied",
		"actor": "bob", "actor_tenant": "acme", "target": "s1", "reason": "not yours", "request_id": "req-1", "client_ip": "192.0.2.7"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if _, ok := m["subject"]; ok {
		t.Error("empty fields are left out")
	}
	buf.Reset()
	a.Debug(ctx, Event{Action: "authenticate", Outcome: Success})
	if buf.Len() != 0 {
		t.Error("debug events written at Info level")
	}
	var nilLogger *Logger
	nilLogger.Log(ctx, Event{Action: "x"}) // must not panic
}
