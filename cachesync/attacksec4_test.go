package cachesync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"testing"
	"time"
)

// Attack (security review 4): the third review had cachesync log a cache key as key_hash only,
// promising (logkey.go, docs/security.md "Logs and member data") that "the key cannot be read
// back". key_hash is 16 hex digits of an unkeyed SHA-256 of the key's bytes: anyone who reads the
// info/warn log (which is not kept like member data: only debug logs are) reads the key back by
// hashing the candidates. Keys are low-entropy by construction: the demo's own keys are
// "profile:<member id>" (internal/lab/demo/traffic.go profileKey), and the documented example
// "member:<email>" falls to a list of candidate emails (the company's directory, a leaked list).
// Here the key comes back from the INFO line of one oversized Set, in well under a second.
func TestAttackSec4KeyHashReadsBackTheKey(t *testing.T) {
	for _, tc := range []struct {
		key        string
		candidates func(yield func(string) bool)
	}{
		{"profile:4711", func(yield func(string) bool) {
			for id := 0; id < 1_000_000; id++ {
				if !yield(fmt.Sprintf("profile:%d", id)) {
					return
				}
			}
		}},
		{"member:alice@example.com", func(yield func(string) bool) {
			for _, who := range []string{"bob", "carol", "alice", "dave"} {
				if !yield("member:" + who + "@example.com") {
					return
				}
			}
		}},
	} {
		var logs bytes.Buffer
		c, err := NewClient(newFakeMemcache(time.Now), &recSink{}, ClientOptions{Region: "us-east-1", Rules: Rules{Default: Replicate},
			MaxValueBytes: 8, Logger: slog.New(slog.NewTextHandler(&logs, nil))}) // INFO and above: no debug line
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Set(context.Background(), &Item{Key: tc.key, Value: []byte("a profile larger than eight bytes")}); err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`key_hash=([0-9a-f]{16})`).FindStringSubmatch(logs.String())
		if m == nil {
			t.Fatalf("no key_hash in the info log: %s", logs.String())
		}
		recovered := ""
		tc.candidates(func(k string) bool {
			sum := sha256.Sum256([]byte(k)) // the attacker's own: SHA-256, first 8 bytes, hex
			if hex.EncodeToString(sum[:8]) == m[1] {
				recovered = k
				return false
			}
			return true
		})
		if recovered != "" {
			t.Errorf("the info log's key_hash=%s gives the cache key back by trying candidates: %q (the log promises the key cannot be read back)", m[1], recovered)
		}
	}
}
