package forklift

import (
	"bytes"
	"testing"
)

// The stored key is Cassandra's: a single column's value as it is; a composite key per component
// a 2-byte length, the bytes and an end-of-component 0. Same-token partitions order by those bytes,
// unsigned, so ('b','x') comes before ('aa','y') (length 1 < length 2) although "b" > "aa".
func TestPartitionOrderIsCassandras(t *testing.T) {
	k := func(parts ...string) [][]byte {
		out := make([][]byte, len(parts))
		for i, p := range parts {
			out[i] = []byte(p)
		}
		return out
	}
	if got, want := storedKey(k("b", "x")), []byte{0, 1, 'b', 0, 0, 1, 'x', 0}; !bytes.Equal(got, want) {
		t.Fatalf("storedKey(b, x) = %x, want %x", got, want)
	}
	if got := storedKey(k("abc")); !bytes.Equal(got, []byte("abc")) {
		t.Fatalf("a single-column key is stored as its value, got %x", got)
	}
	for _, tc := range []struct {
		atok int64
		a    [][]byte
		btok int64
		b    [][]byte
		want int
	}{
		{1, k("b", "x"), 1, k("aa", "y"), -1},
		{1, k("aa", "y"), 1, k("b", "x"), 1},
		{1, k("a", "\xff"), 1, k("a", "\x01"), 1}, // unsigned bytes
		{1, k("a", ""), 1, k("a", "\x00"), -1},
		{0, k("zz", "z"), 1, k("a", "a"), -1}, // token first
		{-5, k("\x80"), -5, k("\x7f"), 1},
		{3, k("a", "b"), 3, k("a", "b"), 0},
	} {
		if got := comparePartitions(tc.atok, tc.a, tc.btok, tc.b); got != tc.want {
			t.Errorf("comparePartitions(%d %q, %d %q) = %d, want %d", tc.atok, tc.a, tc.btok, tc.b, got, tc.want)
		}
	}
}
