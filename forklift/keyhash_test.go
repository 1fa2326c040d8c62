package forklift

import (
	"encoding/hex"
	"strings"
	"testing"
)

// An error names a partition by keyHash: stable, distinct per key, and showing no component of it
// (a partition key may be a member's email).
func TestKeyHashShowsNoKey(t *testing.T) {
	a := [][]byte{[]byte("alice@example.com"), {0, 0, 0, 7}}
	b := [][]byte{[]byte("alice@example.com"), {0, 0, 0, 8}}
	ha, hb := keyHash(a), keyHash(b)
	if ha != keyHash([][]byte{[]byte("alice@example.com"), {0, 0, 0, 7}}) || ha == hb {
		t.Fatalf("keyHash not stable or not distinct: %s %s", ha, hb)
	}
	for _, part := range a {
		for _, form := range []string{string(part), hex.EncodeToString(part)} {
			if len(form) >= 8 && strings.Contains(ha, form) {
				t.Errorf("keyHash %q shows a key component %q", ha, form)
			}
		}
	}
}
