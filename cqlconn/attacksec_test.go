package cqlconn

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// Attack (security review): "A password is a Secret. It prints as [redacted] through fmt (every
// verb) … and log/slog". It does not when the Access (or a forklift.Config, as in forklift.Job's
// unexported cfg) sits in an unexported field of the struct printed: fmt cannot call methods
// through an unexported field, so it prints the string underneath; slog's text handler does the same.
func TestAttackSecSecretInUnexportedFieldPrints(t *testing.T) {
	const pw = "Hunter2-very-secret"
	type appConfig struct {
		name   string
		access Access
	}
	c := appConfig{name: "app", access: Access{Username: "app", Password: NewSecret(pw), TLS: TLS{CAFile: "/etc/ca.pem"}}}
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v\n", c, &c)
	slog.New(slog.NewTextHandler(&out, nil)).Info("starting", "config", c)
	if strings.Contains(out.String(), pw) {
		t.Errorf("the password printed:\n%s", out.String())
	}
}
