package cachesync

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// TestEventBodyOnlySQSCharacters: every string of an event (key, type, payload, origin) holding
// characters SQS refuses still makes a body SQS takes, and the body decodes to the same event.
func TestEventBodyOnlySQSCharacters(t *testing.T) {
	for _, s := range []string{"a\uffff", "\ufffe", "x\ufffdy\U0001F600", "ok", "\xff\xfe"} {
		ev := &Event{Format: EventFormat, ID: "i", Op: OpInvalidate, Key: "k:" + s, Version: Version{Micros: 1, Origin: "r" + s},
			Type: "t" + s, Payload: json.RawMessage(`"p` + s + `"`)}
		if s == "\xff\xfe" { // invalid UTF-8 can be a key (key64), not a JSON string
			ev.Payload, ev.Version.Origin, ev.Type = nil, "r", "t"
		}
		b, err := ev.Marshal()
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if ok, r := sqsAllowed(string(b)); !ok {
			t.Errorf("%q: body holds %U: %s", s, r, b)
		}
		got, err := ParseEvent(string(b))
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		var gp, wp any // the payload as the handler decodes it
		if ev.Payload != nil {
			if err := json.Unmarshal(got.Payload, &gp); err != nil {
				t.Fatal(err)
			}
			json.Unmarshal(ev.Payload, &wp)
		}
		if got.Key != ev.Key || got.Type != ev.Type || got.Version != ev.Version || gp != wp {
			var want any = ev
			t.Errorf("%q: round trip changed the event: got %+v want %+v", s, got, want)
		}
	}
	if _, err := (&Event{Format: EventFormat, Op: OpApp, Type: "t", Payload: json.RawMessage("\"\xff\"")}).Marshal(); err == nil {
		t.Error("a payload holding invalid UTF-8 was encoded")
	}
}

// TestEmitWithoutTypeRefused: an application event without a type is refused before it is sent
// (every agent would dead-letter it).
func TestEmitWithoutTypeRefused(t *testing.T) {
	s := &recSink{}
	c, err := NewClient(newFakeMemcache(time.Now), s, ClientOptions{Region: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Emit(context.Background(), "", 1); !errors.Is(err, ErrConfig) || len(s.evs) != 0 {
		t.Fatalf("Emit(\"\"): %v, %d events sent", err, len(s.evs))
	}
}
