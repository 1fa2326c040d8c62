package merge

import (
	"cmp"
	"encoding/binary"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func be(n int, v int64) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(v))
	return b[8-n:]
}

// twos is the CQL varint encoding of x (minimal two's complement).
func twos(x *big.Int) []byte {
	if x.Sign() >= 0 {
		b := x.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	n := (x.BitLen() + 8) / 8
	m := new(big.Int).Add(x, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	b := m.FillBytes(make([]byte, n))
	return b
}

func dec(unscaled int64, scale int32) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(scale)), twos(big.NewInt(unscaled))...)
}

// timeuuid builds a version-1 UUID of the given 60-bit time, with rest as clock sequence and node.
func timeuuid(t uint64, rest byte) []byte {
	u := make([]byte, 16)
	binary.BigEndian.PutUint32(u[0:], uint32(t))
	binary.BigEndian.PutUint16(u[4:], uint16(t>>32))
	binary.BigEndian.PutUint16(u[6:], uint16(t>>48)&0x0fff|0x1000)
	for i := 8; i < 16; i++ {
		u[i] = rest
	}
	return u
}

func f32(x float32) []byte { return binary.BigEndian.AppendUint32(nil, math.Float32bits(x)) }
func f64(x float64) []byte { return binary.BigEndian.AppendUint64(nil, math.Float64bits(x)) }

// ValueOrder decides by the type, never by a value's length: each case is a pair whose byte
// order (or 8-byte signed reading) is the wrong answer.
func TestValueOrderByType(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		a, b []byte
		want int
	}{
		{"bigint", be(8, -1), be(8, 1), -1},
		{"timestamp", be(8, -86400000), be(8, 0), -1},
		{"int", be(4, -5), be(4, 3), -1},
		{"smallint", be(2, -1), be(2, 0), -1},
		{"tinyint", be(1, -128), be(1, 127), -1},
		{"counter", be(8, 1<<62), be(8, -(1 << 62)), 1},
		{"time", be(8, 5), be(8, 6), -1},
		{"text", []byte("éaaaaaa"), []byte("zzzzzzzz"), 1}, // 8 bytes each: not a bigint
		{"varchar", []byte("\xff"), []byte("\x7f"), 1},
		{"blob", []byte{0x80, 0, 0, 0, 0, 0, 0, 0}, []byte{0x7f, 0, 0, 0, 0, 0, 0, 0}, 1},
		{"date", be(4, 1<<31+1), be(4, 1<<31-1), 1}, // unsigned days, epoch at 2^31
		{"varint", twos(big.NewInt(-1)), twos(big.NewInt(1)), -1},
		{"varint", twos(big.NewInt(-300)), twos(big.NewInt(-2)), -1},
		{"varint", twos(new(big.Int).Lsh(big.NewInt(1), 80)), twos(big.NewInt(1 << 62)), 1},
		{"decimal", dec(15, 1), dec(2, 0), -1},  // 1.5 < 2
		{"decimal", dec(-15, 1), dec(-2, 0), 1}, // -1.5 > -2
		{"decimal", dec(100, 2), dec(1, 0), 0},  // 1.00 = 1
		{"decimal", dec(1, -3), dec(999, 0), 1}, // 1000 > 999
		{"decimal", dec(1, math.MaxInt32), dec(1, math.MinInt32), -1},
		{"double", f64(-1), f64(0.5), -1},
		{"double", f64(math.Copysign(0, -1)), f64(0), -1},
		{"double", f64(math.NaN()), f64(math.Inf(1)), 1},
		{"float", f32(-2), f32(1), -1},
		{"timeuuid", timeuuid(1000, 0xff), timeuuid(2000, 0x00), -1},
		{"timeuuid", timeuuid(1<<40, 0), timeuuid(1<<20, 0), 1}, // time_hi/mid outrank time_low
		{"uuid", timeuuid(1000, 0xff), timeuuid(2000, 0x00), -1},
		{"bigint", nil, be(8, math.MinInt64), -1}, // an empty value comes first
	} {
		order, err := ValueOrder(tc.typ)
		if err != nil {
			t.Fatalf("%s: %v", tc.typ, err)
		}
		if got := order(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: order(%x, %x) = %d, want %d", tc.typ, tc.a, tc.b, got, tc.want)
		}
		if got := order(tc.b, tc.a); got != -tc.want {
			t.Errorf("%s: order(%x, %x) = %d, want %d", tc.typ, tc.b, tc.a, got, -tc.want)
		}
	}
	for _, typ := range []string{"duration", "list<int>", "frozen<set<text>>", "tuple<int, int>", "vector<float, 3>", "'org.example.Custom'"} {
		if _, err := ValueOrder(typ); !errors.Is(err, ErrBadOption) {
			t.Errorf("ValueOrder(%q) = %v, want ErrBadOption", typ, err)
		}
	}
}

// Against big numbers: random integers of every width and decimals with random scales order as
// their values do.
func TestValueOrderMatchesValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 9))
	bigint, _ := ValueOrder("bigint")
	intO, _ := ValueOrder("int")
	varint, _ := ValueOrder("varint")
	decimal, _ := ValueOrder("decimal")
	for range 20000 {
		x, y := int64(rng.Uint64()), int64(rng.Uint64())
		if rng.IntN(3) == 0 {
			y = x + int64(rng.IntN(3)) - 1
		}
		if got := bigint(be(8, x), be(8, y)); got != cmp.Compare(x, y) {
			t.Fatalf("bigint %d vs %d: %d", x, y, got)
		}
		if got := intO(be(4, int64(int32(x))), be(4, int64(int32(y)))); got != cmp.Compare(int32(x), int32(y)) {
			t.Fatalf("int %d vs %d: %d", int32(x), int32(y), got)
		}
		bx, by := new(big.Int).Mul(big.NewInt(x), big.NewInt(int64(rng.IntN(1000)))), big.NewInt(y>>rng.IntN(64))
		if got := varint(twos(bx), twos(by)); got != bx.Cmp(by) {
			t.Fatalf("varint %v vs %v: %d", bx, by, got)
		}
		ux, uy := x>>rng.IntN(64), y>>rng.IntN(64)
		sx, sy := int32(rng.IntN(40)-20), int32(rng.IntN(40)-20)
		rat := func(u int64, s int32) *big.Rat {
			r := new(big.Rat).SetInt64(u)
			p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(s, -s))), nil))
			if s > 0 {
				return r.Quo(r, p)
			}
			return r.Mul(r, p)
		}
		if got, want := decimal(dec(ux, sx), dec(uy, sy)), rat(ux, sx).Cmp(rat(uy, sy)); got != want {
			t.Fatalf("decimal %d e%d vs %d e%d: %d, want %d", ux, -sx, uy, -sy, got, want)
		}
	}
}

// newest-by takes the column's type from the schema (forklift binds it): a timeuuid column
// orders by the time in it, whatever its bytes say; a column the table lacks, a type with no
// order, or a type option the schema contradicts is refused when bound, also inside quarantine.
func TestNewestByBindsTheColumnType(t *testing.T) {
	r, err := New("newest-by", map[string]any{"column": "u"})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{"u": "timeuuid", "v": "text"}
	bound, err := WithColumnTypes(r, types)
	if err != nil {
		t.Fatal(err)
	}
	later, earlier := timeuuid(2000, 0x00), timeuuid(1000, 0xff) // bytes say the opposite
	src := part(row("k", simple("u", Cell{Value: later, WriteTime: 100}), simple("v", c("new", 100))))
	dst := part(row("k", simple("u", Cell{Value: earlier, WriteTime: 200}), simple("v", c("old", 200))))
	res, err := bound.Resolve(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if res.Write == nil || len(res.Write.Rows) != 1 {
		t.Fatalf("the source's timeuuid is the later one: its row must be written, got %+v", res.Write)
	}
	if _, err := r.Resolve(src, dst); !errors.Is(err, ErrBadOption) {
		t.Fatalf("unbound newest-by without a type: %v, want ErrBadOption (never a guess)", err)
	}
	for _, tc := range []struct {
		opts  map[string]any
		types map[string]string
		want  error
	}{
		{map[string]any{"column": "w"}, types, ErrMissingColumn},
		{map[string]any{"column": "u"}, map[string]string{"u": "duration"}, ErrBadOption},
		{map[string]any{"column": "u", "type": "bigint"}, types, ErrBadOption},
		{map[string]any{"column": "u", "type": "TimeUUID"}, types, nil},
	} {
		for _, q := range []bool{false, true} {
			name, opts := "newest-by", tc.opts
			if q {
				name, opts = "quarantine", map[string]any{"resolver": "newest-by", "options": tc.opts, "max-conflicts": 5}
			}
			r, err := New(name, opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := WithColumnTypes(r, tc.types); !errors.Is(err, tc.want) && (err != nil || tc.want != nil) {
				t.Errorf("%s %v bound to %v: %v, want %v", name, opts, tc.types, err, tc.want)
			}
		}
	}
	if _, err := New("newest-by", map[string]any{"column": "u", "type": "list<int>"}); !errors.Is(err, ErrBadOption) {
		t.Errorf("type list<int>: %v, want ErrBadOption", err)
	}
}
