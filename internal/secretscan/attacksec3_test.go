package secretscan

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Attack (security review 3): make test's TestNoSecretsInOutputs is the guard behind "a password
// never prints"; the scan says it finds a secret "in any of the forms a careless print gives it",
// hex among them, and "a hex dump cut in rows". The forms Go itself gives a byte slice are missed:
// hex.Dump (the usual way to look at a frame or a SASL token: spaced hex plus an ASCII column cut
// every 16 bytes), fmt's "% x" (spaced hex), and fmt's %v of a []byte (decimal bytes, what
// fmt.Println(token) or a %v of a struct holding the token prints). Each file below holds the
// world's app password, printed as a SASL PLAIN token "\0islands_app\0<password>", and the scan
// reports nothing for it.
func TestAttackSec3ByteSliceDumpsOfThePasswordMissed(t *testing.T) {
	const pw = "Zq7Kx9Lm2Pw4Rt6Yv8Bn1Cd3Fg5Hj0Sa" // 32 letters and digits, as scripts/regions makes them
	token := append([]byte("\x00islands_app\x00"), pw...)
	dir := t.TempDir()
	files := map[string]string{
		"hexdump.log":   "auth response:\n" + hex.Dump(token),
		"spacedhex.log": fmt.Sprintf("auth response: % x\n", token),
		"decimal.log":   fmt.Sprintf("auth response: %v\n", token),
		"struct.log": fmt.Sprintf("frame %+v\n", struct {
			Op   byte
			Body []byte
		}{0x0f, token}),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range files {
		found, _, err := Scan([]Secret{{Name: "islands_app.password", Value: pw}}, nil, filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(found) == 0 {
			t.Errorf("%s: the password is there and the scan finds nothing:\n%s", name, body)
		}
	}
}
