package forklift

import (
	"strings"
	"testing"
)

// Attack (security review 3): ParseConfig promises "An error never shows a value (a password, or a
// variable holding one): ... the YAML decoder's echo of the offending value is cut out". yamlError
// cuts it with a regular expression whose "." stops at a line end, so a value holding a line break
// (any block scalar, "|" or ">", which keeps its final newline) is echoed whole: the closing
// backquote is on the next line and nothing is cut. Here the password under a tag the decoder
// refuses (a block scalar is how a multi-line secret is pasted from a vault).
func TestAttackSec3BlockScalarPasswordEchoed(t *testing.T) {
	const pw = "Hunter2-very-secret"
	for _, v := range []string{"!!int |\n    " + pw + "\n", "!!float >\n    " + pw + "\n", "!!bool |-\n    " + pw + "\n    x\n"} {
		body := "keyspaces: [ks]\ndestination: {hosts: [b]}\nsource:\n  hosts: [a]\n  username: u\n  password: " + v +
			"  tls: {ca_file: /etc/islands/ca.pem}\n"
		_, err := ParseConfig([]byte(body))
		if err == nil {
			t.Fatalf("%q: want an error", v)
		}
		if strings.Contains(err.Error(), "Hunter2") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
