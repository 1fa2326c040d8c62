// Package loghash names member data in logs and errors by a keyed hash (key_hash), the same for
// dualwrite (a statement's values), cachesync (a cache key) and forklift (a partition key).
//
// Invariants:
//   - a key_hash is 16 hex digits of HMAC-SHA-256 under a secret key: the same input gives the
//     same hash within a process (and across processes given the same key), so lines correlate;
//   - without the key a key_hash cannot be tested against candidates (a member id, an email from
//     a list): a plain hash of a low-entropy key would be read back by hashing the candidates;
//   - the key is ISLANDS_LOG_HASH_KEY's value when that is set (so the lines of several processes
//     correlate; it is then a secret, kept like a password), else 32 bytes drawn from crypto/rand
//     when the process first hashes, never written anywhere.
//
// A key_hash is not an anonymisation: whoever has the key (the operator, the process's memory)
// tests candidates as easily as with a plain hash; and equal hashes still say "the same key".
package loghash

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"sync"
)

// EnvKey is the environment variable whose value, when set and not empty, is the key of every
// key_hash of the process (its bytes as given). Set the same value in several processes to
// correlate their lines; it is a secret: whoever has it reads low-entropy keys back from the logs.
const EnvKey = "ISLANDS_LOG_HASH_KEY"

var key = sync.OnceValue(func() []byte {
	if k := os.Getenv(EnvKey); k != "" {
		return []byte(k)
	}
	k := make([]byte, 32)
	rand.Read(k) // never fails (crypto/rand: it crashes the program instead)
	return k
})

// Sum is the key_hash of b: 16 hex digits of HMAC-SHA-256 of b under the process's key.
func Sum(b []byte) string {
	m := hmac.New(sha256.New, key())
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// String is Sum of s's bytes.
func String(s string) string { return Sum([]byte(s)) }
