package forklift

import (
	"strings"
	"testing"
)

// A YAML error quoting a value that itself holds a quote (an alias-shaped password with an
// apostrophe) shows none of it: the cut runs to the last quote on the line.
func TestYAMLErrorHidesQuotedValueHoldingAQuote(t *testing.T) {
	for _, pw := range []string{"*Hun'ter2-secret", "*Hun`ter2-secret", `*Hun"ter2-secret`} {
		body := "keyspaces: [ks]\nsource: {hosts: [a]}\ndestination:\n  hosts: [b]\n  password: " + pw + "\n"
		_, err := ParseConfig([]byte(body))
		if err == nil {
			t.Fatalf("%s: want an error", pw)
		}
		if strings.Contains(err.Error(), "ter2") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
