package forklift

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// Attack (security review 4): forklift's errors name a partition by key_hash (quarantine.go: "the
// key itself is ... never in an error"; docs/security.md "Logs and member data"). key_hash is an
// unkeyed SHA-256 of the key's hex: a bigint member id (8 bytes) is read back from the error by
// hashing the candidates, in a fraction of a second; an email by a list of candidates.
func TestAttackSec4KeyHashReadsBackThePartitionKey(t *testing.T) {
	encode := func(id int64) [][]byte {
		b := make([]byte, 8)
		binary.BigEndian.PutUint64(b, uint64(id))
		return [][]byte{b}
	}
	shown := keyHash(encode(4711)) // what the error carries: "key_hash <16 hex>"
	for id := int64(0); id < 1_000_000; id++ {
		sum := sha256.Sum256([]byte(hex.EncodeToString(encode(id)[0])))
		if "key_hash "+hex.EncodeToString(sum[:8]) == shown {
			t.Errorf("the error's %q gives the partition key back by trying candidates: member id %d", shown, id)
			return
		}
	}
}
