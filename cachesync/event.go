package cachesync

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
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
//
// Keys are bytes (memcached takes any byte but spaces and control bytes), and JSON strings are
// UTF-8: a key that is valid UTF-8 travels as "key", any other as "key64" (base64 of its bytes),
// so that no key is rewritten on the way (encoding/json would replace a byte 0xff with U+FFFD,
// landing the invalidation on another key). Agents that predate key64 see no key and leave such
// an event for the dead-letter queue rather than apply it to the wrong key.
type Event struct {
	Format  int             `json:"v"`
	ID      string          `json:"id"`
	Op      Op              `json:"op"`
	Key     string          `json:"key,omitempty"`   // see the type's doc: "key" or "key64"
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

// eventJSON is Event's JSON form: Key as "key" when it is valid UTF-8, else as "key64".
type eventJSON struct {
	eventFields
	Key64 []byte `json:"key64,omitempty"`
}

type eventFields Event // Event without its methods

// MarshalJSON encodes e with its key carried losslessly (see Event).
func (e Event) MarshalJSON() ([]byte, error) {
	j := eventJSON{eventFields: eventFields(e)}
	if !utf8.ValidString(e.Key) {
		j.Key, j.Key64 = "", []byte(e.Key)
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes an event written by MarshalJSON.
func (e *Event) UnmarshalJSON(b []byte) error {
	var j eventJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Event(j.eventFields)
	if j.Key64 != nil {
		if e.Key != "" {
			return errors.New("both key and key64")
		}
		e.Key = string(j.Key64)
	}
	return nil
}

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
		if !legalKey(e.Key) || e.Version.Micros <= 0 {
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
