package cqlconn

import (
	"bytes"
	"encoding/gob"
	"errors"
	"strings"
	"testing"
)

// gob writes a string type's bytes as they are: a Secret (or an Access holding one) sent through
// gob would carry the password. Encoding one is refused, with ErrSecretEncoding.
func TestSecretGobRefused(t *testing.T) {
	const pw = "Hunter2-very-secret"
	for _, v := range []any{NewSecret(pw), Access{Username: "u", Password: NewSecret(pw)}} {
		var b bytes.Buffer
		err := gob.NewEncoder(&b).Encode(v)
		if err == nil || !errors.Is(err, ErrSecretEncoding) && !strings.Contains(err.Error(), ErrSecretEncoding.Error()) {
			t.Errorf("%T: gob encoding = %v, want refused", v, err)
		}
		if strings.Contains(b.String(), pw) {
			t.Errorf("%T: the password is in the gob stream", v)
		}
	}
}
