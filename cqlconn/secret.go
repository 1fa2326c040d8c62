package cqlconn

import (
	"errors"
	"fmt"
	"log/slog"
)

// Redacted is what a Secret prints as.
const Redacted = "[redacted]"

// Secret is a password or another credential. It never prints: fmt (every verb), JSON, text and
// YAML marshalling and log/slog all give Redacted (or "" when it is empty, so a config shows
// whether one is set). Reveal gives the value. gob encoding is refused (ErrSecretEncoding).
//
// The value sits behind a pointer, not in the Secret itself: fmt and slog cannot call a method
// through an unexported struct field, and then print the field's contents as they are; a pointer
// below the top level prints as an address, so a Secret (or an Access) held in an unexported field
// of a struct printed whole shows no value either (TestAttackSecSecretInUnexportedFieldPrints).
// The zero Secret is empty. Make one with NewSecret; compare with IsSet, not ==.
type Secret struct{ value *string }

// NewSecret returns a Secret holding s (the empty Secret when s is "").
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{value: &s}
}

// Reveal returns the secret's value; call it only where the value is handed to the driver.
func (s Secret) Reveal() string {
	if s.value == nil {
		return ""
	}
	return *s.value
}

// IsSet reports whether the secret holds a value.
func (s Secret) IsSet() bool { return s.Reveal() != "" }

func (s Secret) shown() string {
	if !s.IsSet() {
		return ""
	}
	return Redacted
}

// String implements fmt.Stringer.
func (s Secret) String() string { return s.shown() }

// GoString implements fmt.GoStringer (%#v).
func (s Secret) GoString() string { return fmt.Sprintf("cqlconn.Secret(%q)", s.shown()) }

// Format implements fmt.Formatter, so %x, %q, %d and the rest print the redaction too.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", s.shown())
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
		fmt.Fprint(f, s.shown())
	default:
		fmt.Fprint(f, s.shown())
	}
}

// MarshalText implements encoding.TextMarshaler (and with it JSON).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.shown()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: a config file may set a secret.
func (s *Secret) UnmarshalText(b []byte) error { *s = NewSecret(string(b)); return nil }

// MarshalYAML implements yaml.Marshaler (gopkg.in/yaml.v3).
func (s Secret) MarshalYAML() (any, error) { return s.shown(), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.shown()) }

// ErrSecretEncoding is returned by a Secret's GobEncode: gob would carry the value as it is.
var ErrSecretEncoding = errors.New("cqlconn: a Secret is never gob-encoded")

// GobEncode implements gob.GobEncoder by refusing: a password does not travel through gob.
func (s Secret) GobEncode() ([]byte, error) { return nil, ErrSecretEncoding }
