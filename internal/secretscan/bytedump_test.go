package secretscan

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A secret inside a byte slice is found however the slice is printed, at every offset (so a hex
// dump cuts it between rows everywhere), indented as t.Log indents, and in upper case.
func TestByteSliceFormsAtEveryOffset(t *testing.T) {
	const pw = "Zq7Kx9Lm2Pw4Rt6Yv8Bn1Cd3Fg5Hj0Sa"
	dir := t.TempDir()
	for off := 0; off < 40; off++ {
		token := append([]byte(strings.Repeat("\x00u", off)[:off]), pw...)
		token = append(token, "\x00tail"...)
		for name, body := range map[string]string{
			"dump":       "frame:\n" + hex.Dump(token) + "done\n",
			"dumpindent": "    x_test.go:12: frame:\n" + strings.ReplaceAll(hex.Dump(token), "\n", "\n        "),
			"spacedX":    fmt.Sprintf("auth % X end\n", token),
			"decimal":    fmt.Sprintf("t=%v n=300 12\n", token),
		} {
			p := filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, off))
			if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			found, _, err := Scan([]Secret{{Name: "pw", Value: pw}}, nil, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(found) == 0 {
				t.Errorf("%s at offset %d: not found:\n%s", name, off, body)
			}
		}
	}
	// A dump of other bytes is not taken for the secret.
	p := filepath.Join(dir, "clean.log")
	os.WriteFile(p, []byte(hex.Dump([]byte(strings.Repeat("no secret here ", 10)))), 0o600)
	if found, _, _ := Scan([]Secret{{Name: "pw", Value: pw}}, nil, p); len(found) != 0 {
		t.Errorf("clean dump: %v", found)
	}
}
