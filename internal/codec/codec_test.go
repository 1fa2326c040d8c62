package codec

import (
	"errors"
	"reflect"
	"testing"
)

// Joining and splitting are inverse, nulls included; truncated bytes are ErrMalformed.
func TestCollectionsRoundTrip(t *testing.T) {
	elems := [][]byte{{1, 2}, {}, nil, []byte("text")}
	b := JoinCollection(elems)
	got, err := SplitCollection(b)
	if err != nil || !reflect.DeepEqual(got, elems) {
		t.Fatalf("SplitCollection(JoinCollection(%q)) = %q, %v", elems, got, err)
	}
	keys, vals := [][]byte{[]byte("a"), []byte("b")}, [][]byte{{0, 0, 0, 1}, nil}
	k, v, err := SplitMap(JoinMap(keys, vals))
	if err != nil || !reflect.DeepEqual(k, keys) || !reflect.DeepEqual(v, vals) {
		t.Fatalf("SplitMap(JoinMap) = %q %q, %v", k, v, err)
	}
	for n := 0; n < len(b); n++ {
		if _, err := SplitCollection(b[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("SplitCollection of %d of %d bytes: %v, want ErrMalformed", n, len(b), err)
		}
	}
	wts, err := Int64s(JoinCollection([][]byte{{0, 0, 0, 0, 0, 0, 0, 9}, nil}))
	if err != nil || !reflect.DeepEqual(wts, []int64{9, 0}) {
		t.Fatalf("Int64s = %v, %v", wts, err)
	}
	ttls, err := Int32s(JoinCollection([][]byte{{0, 0, 1, 0}, nil}))
	if err != nil || !reflect.DeepEqual(ttls, []int32{256, 0}) {
		t.Fatalf("Int32s = %v, %v", ttls, err)
	}
	if Format("varchar", []byte("x")) != `"x"` || Format("bigint", []byte{0, 0, 0, 0, 0, 0, 0, 7}) != "7" || Format("int", nil) != "null" {
		t.Fatalf("Format: %s %s %s", Format("varchar", []byte("x")), Format("bigint", []byte{0, 0, 0, 0, 0, 0, 0, 7}), Format("int", nil))
	}
}
