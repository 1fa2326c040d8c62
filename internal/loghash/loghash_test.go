package loghash

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSameInputSameHash: lines correlate within a process; different inputs differ.
func TestSameInputSameHash(t *testing.T) {
	if String("member:alice@example.com") != String("member:alice@example.com") {
		t.Fatal("the same key gave two hashes")
	}
	if String("a") == String("b") {
		t.Fatal("two keys gave the same hash")
	}
	if h := String("x"); len(h) != 16 {
		t.Fatalf("hash %q: want 16 hex digits", h)
	}
}

// TestNotThePlainHash: without the key, the hash of a candidate is not the key_hash.
func TestNotThePlainHash(t *testing.T) {
	plain := sha256.Sum256([]byte("profile:4711"))
	if String("profile:4711") == hex.EncodeToString(plain[:8]) {
		t.Fatal("key_hash is the plain SHA-256")
	}
}

// TestKeyFromEnvironment: two processes given the same ISLANDS_LOG_HASH_KEY agree (and agree with
// HMAC-SHA-256 under that key); two processes without it do not.
func TestKeyFromEnvironment(t *testing.T) {
	if os.Getenv("LOGHASH_CHILD") == "1" {
		os.Stdout.WriteString("HASH=" + String("profile:4711") + "\n")
		return
	}
	run := func(env ...string) string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKeyFromEnvironment$")
		cmd.Env = append(os.Environ(), append([]string{"LOGHASH_CHILD=1", EnvKey + "="}, env...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		_, h, ok := strings.Cut(string(out), "HASH=")
		if !ok {
			t.Fatalf("child printed no hash: %s", out)
		}
		return h[:16]
	}
	m := hmac.New(sha256.New, []byte("operator secret"))
	m.Write([]byte("profile:4711"))
	want := hex.EncodeToString(m.Sum(nil)[:8])
	if a, b := run(EnvKey+"=operator secret"), run(EnvKey+"=operator secret"); a != want || b != want {
		t.Errorf("with %s set: %s and %s, want %s in both", EnvKey, a, b, want)
	}
	if a, b := run(), run(); a == b {
		t.Errorf("two processes without %s gave the same hash %s: the key is not drawn at random", EnvKey, a)
	}
}
