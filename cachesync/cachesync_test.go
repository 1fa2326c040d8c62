package cachesync

import (
	"bytes"
	"errors"
	"testing"
)

func TestStoredRoundTrip(t *testing.T) {
	for _, s := range []Stored{
		{Version: Version{Micros: 1, Origin: "us-east-1"}, Value: []byte("v")},
		{Version: Version{Micros: 1<<62 + 5, Origin: ""}, Kind: KindTombstone},
		{Version: Version{Micros: 9, Origin: "us-east-1"}, Kind: KindFill, Value: []byte("filled")},
		{Version: Version{Micros: 7, Origin: "eu-west-1"}, Value: bytes.Repeat([]byte{0}, 1000)},
		{Version: Version{Micros: 8, Origin: "us"}, Value: []byte("touched"), Expires: 1_700_000_002, Touched: Version{Micros: 12, Origin: "eu"}},
		{Version: Version{Micros: 8, Origin: "us"}, Value: []byte("touched, no expiry"), Touched: Version{Micros: 13, Origin: ""}},
	} {
		got, err := Decode(s.Encode())
		if err != nil || got.Version != s.Version || got.Kind != s.Kind || !bytes.Equal(got.Value, s.Value) || got.Expires != s.Expires || got.Touched != s.Touched {
			t.Errorf("round trip of %+v: %+v, %v", s.Version, got.Version, err)
		}
	}
	for _, bad := range [][]byte{nil, []byte("plain value"), []byte("cs1\x00\x00\x00\x00\x00\x00\x00\x01\x09ab"), []byte("\x02\x00\x00\x00\x00\x00\x00\x00\x01\x09ab"), []byte("\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00\x07")} {
		if _, err := Decode(bad); !errors.Is(err, ErrNotVersioned) {
			t.Errorf("Decode(%q): want ErrNotVersioned, got %v", bad, err)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	a := Version{Micros: 10, Origin: "eu-west-1"}
	b := Version{Micros: 10, Origin: "us-east-1"}
	c := Version{Micros: 11, Origin: "eu-west-1"}
	if !a.Less(b) || b.Less(a) || !b.Less(c) || a.Less(a) {
		t.Fatal("versions order by time, then origin")
	}
}

func TestRules(t *testing.T) {
	r := Rules{Default: Invalidate, Rules: []Rule{{Prefix: "profile:", Mode: Replicate}, {Prefix: "profile:big:", Mode: Invalidate}}}
	cases := map[string]Mode{"profile:1": Replicate, "profile:big:1": Invalidate, "history:1": Invalidate}
	for k, want := range cases {
		if got := r.Mode(k); got != want {
			t.Errorf("%s: %s, want %s", k, got, want)
		}
	}
}

func TestParseEventRejectsPoison(t *testing.T) {
	for _, body := range []string{
		"not json", `{"v":2,"op":"set","key":"k","ver":{"us":1}}`, `{"v":1,"op":"explode","key":"k","ver":{"us":1}}`,
		`{"v":1,"op":"set","key":"","ver":{"us":1}}`, `{"v":1,"op":"set","key":"k","ver":{"us":0}}`, `{"v":1,"op":"app"}`,
	} {
		if _, err := ParseEvent(body); !errors.Is(err, ErrPoison) {
			t.Errorf("%s: want ErrPoison, got %v", body, err)
		}
	}
	ev := &Event{Format: EventFormat, ID: "x", Op: OpSet, Key: "k", Value: []byte{0, 1, 2}, Version: Version{Micros: 5, Origin: "us"}}
	b, _ := ev.Marshal()
	got, err := ParseEvent(string(b))
	if err != nil || !bytes.Equal(got.Value, ev.Value) || got.Version != ev.Version {
		t.Fatalf("round trip: %+v %v", got, err)
	}
}
