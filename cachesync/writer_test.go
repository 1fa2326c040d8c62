package cachesync

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// oldOrigin reads the origin bytes of a stored header as cachesync did before Version.Writer:
// one string (a reader of that version, still running during an upgrade).
func oldOrigin(b []byte) (int64, string) {
	n := int(b[9])
	return int64(binary.BigEndian.Uint64(b[1:])), string(b[10 : 10+n])
}

// TestVersionWriterKeepsTheFormats: Version.Writer travels inside the origin bytes of the stored
// header and as "w" in events, so the formats are unchanged: a header round-trips (version and
// touch stamp), a header or an event without a writer reads as Writer 0, and a reader before
// writers, taking the origin bytes for one origin, orders any two versions as Less does.
func TestVersionWriterKeepsTheFormats(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 5))
	regions := []string{"us", "us-west-2", "eu-west-1", "a", strings.Repeat("r", MaxRegionBytes)}
	random := func() Version {
		v := Version{Micros: 1 + rng.Int64N(3), Origin: regions[rng.IntN(len(regions))]}
		switch rng.IntN(3) {
		case 0: // no writer
		case 1:
			v.Writer = uint32(1 + rng.IntN(3))
		default:
			v.Writer = rng.Uint32() | 1
		}
		return v
	}
	for i := 0; i < 2000; i++ {
		v, w := random(), random()
		s := Stored{Version: v, Kind: KindValue, Value: []byte("x"), Expires: 7, Touched: w}
		got, err := Decode(s.Encode())
		if err != nil || got.Version != v || got.Touched != w || !bytes.Equal(got.Value, s.Value) {
			t.Fatalf("round trip of %+v: %+v, %v", s, got, err)
		}
		mv, ov := oldOrigin(Stored{Version: v}.Encode())
		mw, ow := oldOrigin(Stored{Version: w}.Encode())
		oldLess := mv < mw || mv == mw && ov < ow
		if oldLess != v.Less(w) {
			t.Fatalf("%+v < %+v: Less says %v, a reader before writers %v", v, w, v.Less(w), oldLess)
		}
		if (v == w) != (mv == mw && ov == ow) {
			t.Fatalf("%+v, %+v: equal %v, a reader before writers %v", v, w, v == w, !(v == w))
		}
	}

	// A header written before writers (origin bytes = the region) reads as Writer 0.
	old := []byte{ValueFormat, 0, 0, 0, 0, 0, 0, 0, 9, 2, 'u', 's', byte(KindValue), 'v'}
	if s, err := Decode(old); err != nil || s.Version != (Version{Micros: 9, Origin: "us"}) {
		t.Fatalf("header before writers: %+v, %v", s, err)
	}

	// Events: "w" when there is a writer, nothing otherwise; an event without it has Writer 0.
	ev := &Event{Format: EventFormat, ID: "i", Op: OpInvalidate, Key: "k", Version: Version{Micros: 9, Origin: "us", Writer: 77}}
	b, err := ev.Marshal()
	if err != nil || !bytes.Contains(b, []byte(`"w":77`)) {
		t.Fatalf("event with a writer: %s, %v", b, err)
	}
	if got, err := ParseEvent(string(b)); err != nil || got.Version != ev.Version {
		t.Fatalf("event with a writer parsed: %+v, %v", got, err)
	}
	ev.Version.Writer = 0
	b, _ = ev.Marshal()
	if bytes.Contains(b, []byte(`"w"`)) {
		t.Fatalf("event without a writer carries one: %s", b)
	}
	if got, err := ParseEvent(string(b)); err != nil || got.Version != ev.Version {
		t.Fatalf("event without a writer parsed: %+v, %v", got, err)
	}
	// An origin holding the writer mark would be read back as another version: refused.
	ev.Version.Origin = "us\x00abcd"
	b, _ = ev.Marshal()
	if _, err := ParseEvent(string(b)); !errors.Is(err, ErrPoison) {
		t.Fatalf("event whose origin holds a 0 byte: %v, want ErrPoison", err)
	}
}

// TestClientsOfOneRegionHaveTheirOwnWriter: every Client stamps its own Writer; a region name
// leaves room for it in the header (MaxRegionBytes), and one holding the writer mark is refused.
func TestClientsOfOneRegionHaveTheirOwnWriter(t *testing.T) {
	clk := newTestClock()
	mc := newFakeMemcache(clk.now)
	seen := map[uint32]bool{}
	for i := 0; i < 100; i++ {
		c, _ := testClientAt(t, mc, clk, "us", Rules{Default: Replicate})
		v := c.Now()
		if v.Writer == 0 || seen[v.Writer] {
			t.Fatalf("client %d: writer %d (0 or another client's)", i, v.Writer)
		}
		seen[v.Writer] = true
	}
	for _, tc := range []struct {
		region string
		ok     bool
	}{{strings.Repeat("r", MaxRegionBytes), true}, {strings.Repeat("r", MaxRegionBytes+1), false}, {"us\x00", false}} {
		_, err := NewClient(mc, &recSink{}, ClientOptions{Region: tc.region, Now: clk.now, TombstoneTTL: time.Minute})
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrConfig) {
			t.Errorf("region of %d bytes (%q…): %v, want ok=%v", len(tc.region), tc.region[:2], err, tc.ok)
		}
	}
}
