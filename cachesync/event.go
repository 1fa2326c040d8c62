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

// EventFormat is the version of the event format (the JSON envelope sent through SQS, its "v")
// this code writes and reads; events of another version go to the dead-letter queue. ValueFormat
// is the other format, the values stored in memcached.
const EventFormat = 1

// Event is the message sent between regions.
//
// Keys are bytes (memcached takes any byte but spaces and control bytes), and JSON strings are
// UTF-8: a key made only of characters SQS takes in a message body (valid UTF-8, and each
// character in #x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD | #x10000–#x10FFFF, see sqsSafe)
// travels as "key", any other as "key64" (base64 of its bytes), so that no key is rewritten on the
// way (encoding/json would replace a byte 0xff with U+FFFD, landing the invalidation on another
// key) and no body holds a character SQS refuses (U+FFFE, U+FFFF: InvalidMessageContents).
// Agents that predate key64 see no key and leave such an event for the dead-letter queue rather
// than apply it to the wrong key. Any other string of the body (the application event's type and
// payload, the origin) holding U+FFFE or U+FFFF carries it as a JSON escape (\ufffe), which
// decodes to the same string; a body holding invalid UTF-8 outside the key is refused by Marshal.
type Event struct {
	Format  int     `json:"v"`
	ID      string  `json:"id"`
	Op      Op      `json:"op"`
	Key     string  `json:"key,omitempty"`   // see the type's doc: "key" or "key64"
	Value   []byte  `json:"value,omitempty"` // base64 in JSON
	Flags   uint32  `json:"flags,omitempty"`
	Expiry  int64   `json:"exp,omitempty"` // absolute unix seconds; 0 = none
	Version Version `json:"ver"`
	// Touched is a touch's own stamp (OpTouch; nil from a client before stamps): touches of one
	// version are applied newest first wins, whatever order they arrive in.
	Touched *Version        `json:"touched,omitempty"`
	Type    string          `json:"type,omitempty"` // OpApp: the application's event type
	Payload json.RawMessage `json:"payload,omitempty"`
}

// ErrPoison: a message that is not an Event this agent can apply.
var ErrPoison = errors.New("cachesync: malformed or unknown event")

// Marshal encodes e for the queue: the body holds only characters SQS takes (see Event).
func (e *Event) Marshal() ([]byte, error) { return json.Marshal(e) }

// sqsSafe reports whether SQS takes every character of s in a message body: valid UTF-8 and only
// #x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD | #x10000–#x10FFFF (SendMessage, MessageBody:
// "Any characters not included in this list will be rejected").
func sqsSafe(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 || !sqsRune(r) {
			return false
		}
		i += n
	}
	return true
}

func sqsRune(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// sqsEscape makes a JSON text SQS-safe: a character SQS refuses can only stand inside a JSON
// string (JSON's structure and whitespace are ASCII, encoding/json escapes the control
// characters), where it is written as its \uXXXX escape, which decodes to the same character.
// Invalid UTF-8 has no escape that decodes to the same bytes: it is an error.
func sqsEscape(b []byte) ([]byte, error) {
	if sqsSafe(string(b)) {
		return b, nil
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			return nil, fmt.Errorf("%w: event body holds invalid UTF-8 at byte %d", ErrConfig, i)
		case sqsRune(r):
			out = append(out, b[i:i+n]...)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += n
	}
	return out, nil
}

// eventJSON is Event's JSON form: Key as "key" when it is valid UTF-8, else as "key64".
type eventJSON struct {
	eventFields
	Key64 []byte `json:"key64,omitempty"`
}

type eventFields Event // Event without its methods

// MarshalJSON encodes e with its key carried losslessly (see Event).
func (e Event) MarshalJSON() ([]byte, error) {
	// Every string but the key is JSON text: invalid UTF-8 in it would arrive rewritten (U+FFFD),
	// an application event's type matching no handler, a version's origin another region's name.
	for _, f := range [...]struct{ name, s string }{{"type", e.Type}, {"origin", e.Version.Origin}, {"id", e.ID}} {
		if !utf8.ValidString(f.s) {
			return nil, fmt.Errorf("%w: event %s %q is not valid UTF-8", ErrConfig, f.name, f.s)
		}
	}
	j := eventJSON{eventFields: eventFields(e)}
	if !sqsSafe(e.Key) {
		j.Key, j.Key64 = "", []byte(e.Key)
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	return sqsEscape(b)
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
	if e.Format != EventFormat {
		return nil, fmt.Errorf("%w: format version %d (this agent reads %d)", ErrPoison, e.Format, EventFormat)
	}
	switch e.Op {
	case OpSet, OpDelete, OpInvalidate, OpTouch:
		if !legalKey(e.Key) || e.Version.Micros <= 0 {
			return nil, fmt.Errorf("%w: %s event without a valid key or version", ErrPoison, e.Op)
		}
		if err := originOK(e.Version); err != nil {
			return nil, fmt.Errorf("%w: %s event version: %v", ErrPoison, e.Op, err)
		}
		if e.Touched != nil {
			if err := originOK(*e.Touched); err != nil {
				return nil, fmt.Errorf("%w: %s event touch stamp: %v", ErrPoison, e.Op, err)
			}
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
