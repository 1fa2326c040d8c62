package dualwrite

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"gopkg.in/inf.v0"
)

const proto = 4

func native(t gocql.Type) gocql.TypeInfo { return gocql.NewNativeType(proto, t, "") }

func list(el gocql.TypeInfo) gocql.TypeInfo {
	return gocql.CollectionType{NativeType: gocql.NewNativeType(proto, gocql.TypeList, ""), Elem: el}
}

func set(el gocql.TypeInfo) gocql.TypeInfo {
	return gocql.CollectionType{NativeType: gocql.NewNativeType(proto, gocql.TypeSet, ""), Elem: el}
}

func cmap(k, v gocql.TypeInfo) gocql.TypeInfo {
	return gocql.CollectionType{NativeType: gocql.NewNativeType(proto, gocql.TypeMap, ""), Key: k, Elem: v}
}

type plan string

type profile struct {
	Name  string `cql:"name"`
	Since time.Time
	Tags  []string `cql:"tags"`
	Avg   *float64 `cql:"avg"`
}

type pair struct {
	A int
	B *string
}

// TestValueRoundTripAllCQLTypes: every value gocql can marshal for a CQL type marshals to the
// same bytes (or fails the same way) after a trip through the replay log's encoding; that is what
// makes a replayed write store what the original stored. nil (NULL) and empty values stay apart.
func TestValueRoundTripAllCQLTypes(t *testing.T) {
	f := 1.5
	s := "b"
	udt := gocql.UDTTypeInfo{NativeType: gocql.NewNativeType(proto, gocql.TypeUDT, ""), Name: "profile",
		Elements: []gocql.UDTField{{Name: "name", Type: native(gocql.TypeText)}, {Name: "Since", Type: native(gocql.TypeTimestamp)},
			{Name: "tags", Type: list(native(gocql.TypeText))}, {Name: "avg", Type: native(gocql.TypeDouble)}}}
	tuple := gocql.TupleTypeInfo{NativeType: gocql.NewNativeType(proto, gocql.TypeTuple, ""),
		Elems: []gocql.TypeInfo{native(gocql.TypeInt), native(gocql.TypeText)}}
	uuid := gocql.TimeUUID()
	now := time.Date(2026, 11, 27, 15, 4, 5, 123456789, time.FixedZone("x", 3600))
	cases := []struct {
		name   string
		info   gocql.TypeInfo
		values []any
	}{
		{"ascii", native(gocql.TypeAscii), []any{"abc", "", []byte("x"), plan("gold"), nil}},
		{"text", native(gocql.TypeText), []any{"héllo", "", []byte{}, []byte(nil), (*string)(nil), &s, plan("")}},
		{"varchar", native(gocql.TypeVarchar), []any{"v", []byte("raw")}},
		{"blob", native(gocql.TypeBlob), []any{[]byte{}, []byte(nil), []byte{0, 1, 2}, "as-string", nil}},
		{"boolean", native(gocql.TypeBoolean), []any{true, false, (*bool)(nil)}},
		{"tinyint", native(gocql.TypeTinyInt), []any{int8(-128), int16(5), 7, "12", uint8(255)}},
		{"smallint", native(gocql.TypeSmallInt), []any{int16(-3), int32(40), uint16(9), "8"}},
		{"int", native(gocql.TypeInt), []any{0, -1, int32(math.MaxInt32), int64(math.MinInt32), uint(4), "77", nil}},
		{"bigint", native(gocql.TypeBigInt), []any{int64(math.MaxInt64), int64(math.MinInt64), 42, uint64(1 << 62), "5", big.NewInt(3)}},
		{"counter", native(gocql.TypeCounter), []any{int64(1), -2}},
		{"varint", native(gocql.TypeVarint), []any{big.NewInt(0), new(big.Int).Lsh(big.NewInt(-1), 100), int64(-9), "1234567890", (*big.Int)(nil)}},
		{"float", native(gocql.TypeFloat), []any{float32(1.25), float32(math.Inf(-1)), float32(0)}},
		{"double", native(gocql.TypeDouble), []any{math.Pi, math.Inf(1), -0.0, math.SmallestNonzeroFloat64}},
		{"decimal", native(gocql.TypeDecimal), []any{inf.NewDec(12345, 2), inf.NewDec(-1, -3), (*inf.Dec)(nil)}},
		{"timestamp", native(gocql.TypeTimestamp), []any{now, time.Time{}, int64(1700000000000), time.Unix(0, 0).UTC()}},
		{"date", native(gocql.TypeDate), []any{now, "2026-11-27", int64(20000), time.Time{}}},
		{"time", native(gocql.TypeTime), []any{int64(3600e9), 90 * time.Minute}},
		{"duration", native(gocql.TypeDuration), []any{gocql.Duration{Months: 1, Days: -2, Nanoseconds: 3}, time.Hour, "1h30m", int64(5)}},
		{"uuid", native(gocql.TypeUUID), []any{uuid, gocql.UUID{}, uuid.String(), uuid.Bytes(), [16]byte(uuid)}},
		{"timeuuid", native(gocql.TypeTimeUUID), []any{uuid, (*gocql.UUID)(nil)}},
		{"inet", native(gocql.TypeInet), []any{net.ParseIP("10.0.0.1"), net.ParseIP("::1"), "192.168.1.1", net.IP(nil)}},
		{"list<int>", list(native(gocql.TypeInt)), []any{[]int{1, 2, 3}, []int{}, []int(nil), []any{1, int64(2)}, [3]int32{4, 5, 6}}},
		{"list<blob>", list(native(gocql.TypeBlob)), []any{[][]byte{{}, nil, {1}}}},
		{"set<text>", set(native(gocql.TypeText)), []any{[]string{"a", "b"}, []string{}, []plan{"p"}}},
		{"map<text,int>", cmap(native(gocql.TypeText), native(gocql.TypeInt)), []any{map[string]int{"a": 1}, map[string]int{}, map[string]int(nil), map[plan]int64{"b": 2}}},
		{"map<uuid,timestamp>", cmap(native(gocql.TypeUUID), native(gocql.TypeTimestamp)), []any{map[gocql.UUID]time.Time{uuid: now}}},
		{"map<text,list<text>>", cmap(native(gocql.TypeText), list(native(gocql.TypeText))), []any{map[string][]string{"k": {"a", ""}}, map[string][]string{"e": {}}}},
		{"udt", udt, []any{profile{Name: "n", Since: now, Tags: []string{"t"}, Avg: &f}, &profile{}, profile{Tags: []string{}},
			map[string]any{"name": "m", "tags": []string{"x"}, "avg": nil}}},
		{"tuple", tuple, []any{pair{A: 1, B: &s}, pair{A: 2}, []any{3, "c"}, []any{4, nil}}},
		{"unset", native(gocql.TypeInt), []any{gocql.UnsetValue}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i, v := range c.values {
				want, wantErr := gocql.Marshal(c.info, v)
				if wantErr != nil {
					t.Fatalf("value %d (%T) does not marshal to begin with: %v", i, v, wantErr)
				}
				en := &Entry{Side: "secondary", Timestamp: 1, Stmts: []Stmt{{Stmt: "INSERT", Values: []any{v}}}}
				b, err := encodeEntry(en)
				if err != nil {
					t.Fatalf("value %d (%T %#v): %v", i, v, v, err)
				}
				back, err := decodeEntry(b)
				if err != nil {
					t.Fatalf("value %d (%T): decode: %v", i, v, err)
				}
				got, gotErr := gocql.Marshal(c.info, back.Stmts[0].Values[0])
				if gotErr != nil {
					t.Fatalf("value %d (%T %#v) came back as %T %#v, which does not marshal: %v", i, v, v, back.Stmts[0].Values[0], back.Stmts[0].Values[0], gotErr)
				}
				if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
					t.Fatalf("value %d (%T %#v) marshals to %v (nil %v) after the log, %v (nil %v) before",
						i, v, v, got, got == nil, want, want == nil)
				}
			}
		})
	}
}

func TestEntryRoundTripFields(t *testing.T) {
	logged := time.Unix(1700000000, 123)
	en := &Entry{Side: "primary", Timestamp: 1700000000000001, Batch: true, BatchType: gocql.UnloggedBatch,
		Consistency: gocql.LocalQuorum, Logged: logged, Stmts: []Stmt{
			{Stmt: "INSERT INTO ks.t (k, v) VALUES (?, ?) USING TTL 60", Values: []any{1, "a"}},
			{Stmt: "UPDATE ks.t SET v = ? WHERE k = ?", Values: []any{nil, 2}},
			{Stmt: "DELETE FROM ks.t WHERE k = 3"},
		}}
	b, err := encodeEntry(en)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Side != en.Side || got.Timestamp != en.Timestamp || !got.Batch || got.BatchType != en.BatchType ||
		got.Consistency != en.Consistency || !got.Logged.Equal(logged) || len(got.Stmts) != 3 {
		t.Fatalf("got %+v", got)
	}
	if got.Stmts[0].Expiry != logged.UnixMicro()+60e6 || // TTL counted from when it was logged (issue 22, item 6)
		got.Stmts[1].Expiry != 0 || got.Stmts[1].Values[0] != nil {
		t.Fatalf("stmts %+v", got.Stmts)
	}
	// Every truncation of a valid entry is an error, never a panic or a wrong entry.
	for i := 0; i < len(b); i++ {
		if _, err := decodeEntry(b[:i]); err == nil {
			t.Fatalf("a %d-byte prefix of a %d-byte entry decoded", i, len(b))
		}
	}
}

func TestUnencodableValues(t *testing.T) {
	type private struct{ x int }
	for _, v := range []any{private{1}, make(chan int), func() {}, struct{ profile }{}} {
		_, err := encodeEntry(&Entry{Stmts: []Stmt{{Stmt: "INSERT", Values: []any{v}}}})
		if !errors.Is(err, ErrUnencodable) {
			t.Errorf("%T: want ErrUnencodable, got %v", v, err)
		}
	}
}

// The code tables agree: every code describes one type, a kind's code its basic (unnamed) type,
// a type's code that type, and no two share a code.
func TestTypeCodeTables(t *testing.T) {
	for k, c := range kindCodes {
		if got := codeTypes[c]; got == nil || got.Kind() != k || got.Name() != k.String() {
			t.Errorf("code %d of kind %s describes %v", c, k, got)
		}
	}
	for typ, c := range typeCodes {
		if got := codeTypes[c]; got != typ {
			t.Errorf("code %d of %s describes %v", c, typ, got)
		}
	}
	if n := len(kindCodes) + len(typeCodes); len(codeTypes) != n {
		t.Errorf("%d codes for %d kinds and types: two share a code", len(codeTypes), n)
	}
}

// FuzzDecodeEntry: no input makes the decoder panic or loop.
func FuzzDecodeEntry(f *testing.F) {
	b, err := encodeEntry(&Entry{Side: "secondary", Timestamp: 5, Stmts: []Stmt{{Stmt: "I", Values: []any{
		[]byte{}, map[string][]int{"a": {1}}, profile{Name: "x"}, &s0, inf.NewDec(1, 1), big.NewInt(2)}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) { decodeEntry(b) })
}

var s0 = "s"

func TestRemainingTTL(t *testing.T) {
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		stmt   string
		values []any
		after  time.Duration
		want   string
		wantV  []any
	}{
		{"INSERT INTO t (k, v) VALUES (?, ?) USING TTL 3600", []any{1, "a"}, 10 * time.Minute,
			"INSERT INTO t (k, v) VALUES (?, ?) USING TTL 3000", []any{1, "a"}},
		{"INSERT INTO t (k, v) VALUES (?, ?) USING TTL ?", []any{1, "a", 100}, 30 * time.Second,
			"INSERT INTO t (k, v) VALUES (?, ?) USING TTL ?", []any{1, "a", 70}},
		{"UPDATE t USING TTL ? SET v = ? WHERE k = ?", []any{int32(60), "x", 2}, time.Hour,
			"UPDATE t USING TTL ? SET v = ? WHERE k = ?", []any{1, "x", 2}}, // expired: TTL 1, still shadows
		{"INSERT INTO t (k, v) VALUES ('a ?', ?) using timestamp 5 and ttl 10", []any{"z"}, 0,
			"INSERT INTO t (k, v) VALUES ('a ?', ?) using timestamp 5 and ttl 10", []any{"z"}},
		{"INSERT INTO t (k, v) VALUES (?, 'USING TTL 5')", []any{1}, time.Hour,
			"INSERT INTO t (k, v) VALUES (?, 'USING TTL 5')", []any{1}},
		{"INSERT INTO t (k) VALUES (?) USING TTL 0", []any{1}, time.Hour,
			"INSERT INTO t (k) VALUES (?) USING TTL 0", []any{1}},
	}
	for _, c := range cases {
		en := &Entry{Timestamp: ts.UnixMicro(), Logged: ts, Stmts: []Stmt{{Stmt: c.stmt, Values: c.values}}}
		b, err := encodeEntry(en)
		if err != nil {
			t.Fatal(err)
		}
		back, _ := decodeEntry(b)
		got := remainingTTL(back.Stmts[0], ts.Add(c.after))
		if got.Stmt != c.want || !sameValues(got.Values, c.wantV) {
			t.Errorf("%s after %s:\n got %s %v\nwant %s %v", c.stmt, c.after, got.Stmt, got.Values, c.want, c.wantV)
		}
	}
}

func sameValues(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
