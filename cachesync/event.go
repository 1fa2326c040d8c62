package cachesync

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Op is what an Event does to a key.
type Op string

// The operations an Event carries.
const (
	OpSet        Op = "set"        // replicate: store Value at Version
	OpDelete     Op = "delete"     // the key was deleted at Version
	OpInvalidate Op = "invalidate" // the key changed at Version; drop older copies
	OpTouch      Op = "touch"      // the key's expiry changed
	OpApp        Op = "app"        // an application event for the Relay
)

// FormatVersion is the envelope version this code writes and reads; others go to the dead-letter
// queue.
const FormatVersion = 1

// Event is the message sent between regions.
type Event struct {
	Format  int             `json:"v"`
	ID      string          `json:"id"`
	Op      Op              `json:"op"`
	Key     string          `json:"key,omitempty"`
	Value   []byte          `json:"value,omitempty"` // base64 in JSON
	Flags   uint32          `json:"flags,omitempty"`
	Expiry  int64           `json:"exp,omitempty"` // absolute unix seconds; 0 = none
	Version Version         `json:"ver"`
	Type    string          `json:"type,omitempty"` // OpApp: the application's event type
	Payload json.RawMessage `json:"payload,omitempty"`
}

// ErrPoison: a message that is not an Event this agent can apply.
var ErrPoison = errors.New("cachesync: malformed or unknown event")

// Marshal encodes e for the queue.
func (e *Event) Marshal() ([]byte, error) { return json.Marshal(e) }

// ParseEvent decodes and checks a message body.
func ParseEvent(body string) (*Event, error) {
	var e Event
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPoison, err)
	}
	if e.Format != FormatVersion {
		return nil, fmt.Errorf("%w: format version %d (this agent reads %d)", ErrPoison, e.Format, FormatVersion)
	}
	switch e.Op {
	case OpSet, OpDelete, OpInvalidate, OpTouch:
		if e.Key == "" || len(e.Key) > 250 || e.Version.Micros <= 0 {
			return nil, fmt.Errorf("%w: %s event without a valid key or version", ErrPoison, e.Op)
		}
	case OpApp:
		if e.Type == "" {
			return nil, fmt.Errorf("%w: application event without a type", ErrPoison)
		}
	default:
		return nil, fmt.Errorf("%w: unknown op %q", ErrPoison, e.Op)
	}
	return &e, nil
}
