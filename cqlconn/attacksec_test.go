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
	t.Skip("open defect, found by the security attacker (issue 27 stays open): a Secret is a string type, so fmt and slog print it in clear inside an unexported struct field; the fix (the clear text behind a pointer or struct) changes the API and this test's literal")
	const pw = "Hunter2-very-secret"
	type appConfig struct {
		name   string
		access Access
	}
	c := appConfig{name: "app", access: Access{Username: "app", Password: pw, TLS: TLS{CAFile: "/etc/ca.pem"}}}
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v\n", c, &c)
	slog.New(slog.NewTextHandler(&out, nil)).Info("starting", "config", c)
	if strings.Contains(out.String(), pw) {
		t.Errorf("the password printed:\n%s", out.String())
	}
}
