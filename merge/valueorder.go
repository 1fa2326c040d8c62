package merge

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// ValueOrder returns the order of the CQL-serialised values of a column of type typ (as
// system_schema spells it: "bigint", "timeuuid", …), the order a rule such as newest-by decides
// by. The type decides, never a value's length (an 8-byte text is not a bigint):
//
//   - bigint, counter, int, smallint, tinyint, timestamp, time: signed integers;
//   - varint: signed integers of any size; decimal: by value (unscaled × 10^-scale);
//   - float, double: by value, -0 below +0 and NaN above everything (Java's compare, Cassandra's);
//   - date: the unsigned day count (epoch at 2^31);
//   - timeuuid: by the time in it (60 bits, 100 ns), then its low 8 bytes as signed bytes
//     (Cassandra's TimeUUIDType); uuid: by version, then version-1 ones by time, then unsigned
//     bytes (UUIDType: the two types order the same low bytes differently);
//   - text, varchar, ascii, blob, inet, boolean: unsigned bytes (UTF-8 text in code point order).
//
// An empty value (CQL allows one for most types) comes before every other; a value malformed for
// its type compares by bytes. Types with no order a rule can use (duration, collections, tuples,
// user types, vectors, custom types) are refused with an error wrapping ErrBadOption.
func ValueOrder(typ string) (func(a, b []byte) int, error) {
	var f func(a, b []byte) int
	switch t := strings.ToLower(strings.TrimSpace(typ)); t {
	case "bigint", "counter", "int", "smallint", "tinyint", "timestamp", "time":
		f = signedOrder(map[string]int{"bigint": 8, "counter": 8, "timestamp": 8, "time": 8, "int": 4, "smallint": 2, "tinyint": 1}[t])
	case "varint":
		f = varintOrder
	case "decimal":
		f = decimalOrder
	case "float":
		f = floatOrder(4)
	case "double":
		f = floatOrder(8)
	case "timeuuid":
		f = timeuuidOrder
	case "uuid":
		f = uuidOrder
	case "date", "text", "varchar", "ascii", "blob", "inet", "boolean":
		f = bytes.Compare
	default:
		return nil, fmt.Errorf("merge: values of type %q have no order a rule can decide by: %w", typ, ErrBadOption)
	}
	return func(a, b []byte) int {
		switch {
		case len(a) == 0 || len(b) == 0:
			return cmp.Compare(len(a), len(b))
		}
		return f(a, b)
	}, nil
}

// signedOrder compares big-endian two's complement integers of n bytes.
func signedOrder(n int) func(a, b []byte) int {
	return func(a, b []byte) int {
		if len(a) != n || len(b) != n {
			return bytes.Compare(a, b)
		}
		// Flipping the sign bit makes signed order the unsigned order of the bytes.
		if c := cmp.Compare(a[0]^0x80, b[0]^0x80); c != 0 {
			return c
		}
		return bytes.Compare(a[1:], b[1:])
	}
}

// bigSigned reads a big-endian two's complement integer of any length.
func bigSigned(b []byte) *big.Int {
	x := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return x
}

func varintOrder(a, b []byte) int { return bigSigned(a).Cmp(bigSigned(b)) }

// decimalOrder compares CQL decimals: a 4-byte signed scale, then the unscaled varint; the value is
// unscaled × 10^-scale. Signs decide first, then the decimal exponent of the leading digit, and
// only then (exponents equal, so the scales differ by at most the digit counts) the values scaled
// to one scale: a scale of 2^31 never builds a 2^31-digit number.
func decimalOrder(a, b []byte) int {
	if len(a) < 5 || len(b) < 5 {
		return bytes.Compare(a, b)
	}
	sa, sb := int64(int32(binary.BigEndian.Uint32(a))), int64(int32(binary.BigEndian.Uint32(b)))
	ua, ub := bigSigned(a[4:]), bigSigned(b[4:])
	if c := cmp.Compare(ua.Sign(), ub.Sign()); c != 0 || ua.Sign() == 0 {
		return c
	}
	sign := ua.Sign()
	da, db := int64(len(new(big.Int).Abs(ua).String())), int64(len(new(big.Int).Abs(ub).String()))
	if c := cmp.Compare(da-sa, db-sb); c != 0 { // leading digit's exponent: |x| ∈ [10^(e-1), 10^e)
		return sign * c
	}
	ten := big.NewInt(10)
	if sa < sb {
		ua = new(big.Int).Mul(ua, new(big.Int).Exp(ten, big.NewInt(sb-sa), nil))
	} else if sb < sa {
		ub = new(big.Int).Mul(ub, new(big.Int).Exp(ten, big.NewInt(sa-sb), nil))
	}
	return ua.Cmp(ub)
}

// floatOrder compares IEEE 754 values of n bytes as Java's Float/Double.compare does (Cassandra's
// FloatType and DoubleType): -0 < +0, and NaN above +Inf and equal to itself.
func floatOrder(n int) func(a, b []byte) int {
	return func(a, b []byte) int {
		if len(a) != n || len(b) != n {
			return bytes.Compare(a, b)
		}
		x, y := decodeFloat(a), decodeFloat(b)
		xn, yn := math.IsNaN(x), math.IsNaN(y)
		switch {
		case xn || yn:
			return cmp.Compare(b2i(xn), b2i(yn))
		case x != y:
			return cmp.Compare(x, y)
		}
		return cmp.Compare(b2i(!math.Signbit(x)), b2i(!math.Signbit(y))) // -0 < +0
	}
}

func decodeFloat(b []byte) float64 {
	if len(b) == 4 {
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// uuidTime is a version-1 UUID's timestamp: time_hi (12 bits) | time_mid | time_low.
func uuidTime(u []byte) uint64 {
	return uint64(binary.BigEndian.Uint16(u[6:])&0x0fff)<<48 | uint64(binary.BigEndian.Uint16(u[4:]))<<32 |
		uint64(binary.BigEndian.Uint32(u[0:]))
}

// timeuuidOrder is Cassandra's TimeUUIDType order: the high 64 bits reordered as version (4 bits)
// then the 60-bit time, compared as a signed long, then the low 8 bytes (clock sequence and node)
// compared byte by byte as SIGNED bytes (0x7f > 0x80; CASSANDRA-8730 keeps this for compatibility).
// UUIDType compares the same low bytes unsigned: uuidOrder, not this, orders uuid columns.
func timeuuidOrder(a, b []byte) int {
	if len(a) != 16 || len(b) != 16 {
		return bytes.Compare(a, b)
	}
	ha := int64(uint64(a[6]>>4)<<60 | uuidTime(a))
	hb := int64(uint64(b[6]>>4)<<60 | uuidTime(b))
	if c := cmp.Compare(ha, hb); c != 0 {
		return c
	}
	for i := 8; i < 16; i++ {
		if c := cmp.Compare(int8(a[i]), int8(b[i])); c != 0 {
			return c
		}
	}
	return 0
}

// uuidOrder is Cassandra's UUIDType order: the version, then version-1 UUIDs by their time and
// other versions by the unsigned high 64 bits, then the unsigned low 64 bits.
func uuidOrder(a, b []byte) int {
	if len(a) != 16 || len(b) != 16 {
		return bytes.Compare(a, b)
	}
	va, vb := a[6]>>4, b[6]>>4
	if c := cmp.Compare(va, vb); c != 0 {
		return c
	}
	if va == 1 {
		if c := cmp.Compare(uuidTime(a), uuidTime(b)); c != 0 {
			return c
		}
		return bytes.Compare(a[8:], b[8:])
	}
	return bytes.Compare(a, b)
}

// Typed is a Resolver whose rule orders the values of some column (newest-by, a quarantine around
// one) and so must know the column's CQL type. WithColumnTypes returns the resolver bound to a
// table's types (column name → type as system_schema spells it).
type Typed interface {
	Resolver
	WithColumnTypes(types map[string]string) (Resolver, error)
}

// WithColumnTypes binds r to a table's column types when r is Typed, and returns it unchanged
// otherwise. forklift binds every table's resolver to the source's schema when it opens a Job, so
// a rule's column that is missing or has no order is a configuration error before any data moves.
func WithColumnTypes(r Resolver, types map[string]string) (Resolver, error) {
	if t, ok := r.(Typed); ok {
		return t.WithColumnTypes(types)
	}
	return r, nil
}

// Schema is a table's shape as a resolver may need it to check its options: every column's CQL
// type (name → type as system_schema spells it), and the key columns in order.
type Schema struct {
	Types        map[string]string
	PartitionKey []string
	Clustering   []string
}

// IsKey reports whether name is one of the schema's partition or clustering key columns (which a
// Row carries in Partition.Key and Row.Clustering, never in Row.Columns).
func (s Schema) IsKey(name string) bool {
	for _, k := range [][]string{s.PartitionKey, s.Clustering} {
		for _, n := range k {
			if n == name {
				return true
			}
		}
	}
	return false
}

// Shaped is a Resolver whose options name parts of the table (a regular column its rule reads, a
// clustering component by index): WithSchema refuses options the table's shape cannot satisfy,
// naming the option, and returns the resolver bound to the table (as WithColumnTypes does).
type Shaped interface {
	Resolver
	WithSchema(s Schema) (Resolver, error)
}

// Bind binds r to a table: WithSchema when r is Shaped, else WithColumnTypes with s.Types.
// forklift binds every table's resolver when it opens a Job, so an option that names a column or
// a clustering component the table lacks is a configuration error before any data moves, never
// an error about the first partition (whose key is member data).
func Bind(r Resolver, s Schema) (Resolver, error) {
	if sh, ok := r.(Shaped); ok {
		return sh.WithSchema(s)
	}
	return WithColumnTypes(r, s.Types)
}
