package dualwrite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"reflect"
	"time"

	"github.com/gocql/gocql"
	"gopkg.in/inf.v0"
)

// The replay log's entry encoding, version 1. Every bound value is stored with a description of
// its Go type, so that it comes back as a value gocql marshals to the same bytes: nil stays nil
// (NULL) and an empty []byte{} stays empty, a nil pointer stays a nil pointer, and slices, arrays,
// maps, structs (UDTs, tuples, with their field names and `cql` tags) are rebuilt with
// reflect.SliceOf, MapOf, StructOf. Named types come back as their underlying kind (gocql
// marshals by kind) except the ones gocql switches on by type: time.Time, time.Duration,
// gocql.UUID, gocql.Duration, gocql.UnsetValue, net.IP, *big.Int, *inf.Dec. A value gocql could
// only marshal through its own code (a gocql.Marshaler or UDTMarshaler of the application's) or a
// struct with unexported fields is refused with ErrUnencodable when appended: the write is
// reported failed, never lost later.
//
//	entry  := 0xD1 version(1) side:str ts:varint batch:byte batchType:byte consistency:uvarint
//	          logged:varint(unix ns) nstmts:uvarint stmt*
//	stmt   := text:str expiry:varint(µs, 0 = no TTL) nvalues:uvarint value*   (value as interface)
//	str    := uvarint(len) bytes
const (
	entryMagic   = 0xD1
	entryVersion = 1
)

// type codes of the value encoding
const (
	tNilIface byte = iota // an untyped nil
	tIface                // interface{}: a value with its own type follows
	tBool
	tInt
	tInt8
	tInt16
	tInt32
	tInt64
	tUint
	tUint8
	tUint16
	tUint32
	tUint64
	tFloat32
	tFloat64
	tString
	tSlice  // elem type
	tArray  // len, elem type
	tMap    // key type, elem type
	tPtr    // elem type
	tStruct // nfields, (name, tag, type)*
	tTime
	tDuration
	tUUID
	tCQLDuration
	tUnset
	tIP
	tBigInt
	tDec
)

var (
	typeTime        = reflect.TypeOf(time.Time{})
	typeDuration    = reflect.TypeOf(time.Duration(0))
	typeUUID        = reflect.TypeOf(gocql.UUID{})
	typeCQLDuration = reflect.TypeOf(gocql.Duration{})
	typeUnset       = reflect.TypeOf(gocql.UnsetValue)
	typeIP          = reflect.TypeOf(net.IP{})
	typeBigInt      = reflect.TypeOf(&big.Int{})
	typeDec         = reflect.TypeOf(&inf.Dec{})
	typeIface       = reflect.TypeOf((*any)(nil)).Elem()
	typeMarshaler   = reflect.TypeOf((*gocql.Marshaler)(nil)).Elem()
	typeUDTMarsh    = reflect.TypeOf((*gocql.UDTMarshaler)(nil)).Elem()
	// kindCodes are the kinds described by their code alone: a named type of one of these kinds
	// comes back as the basic type (gocql marshals by kind).
	kindCodes = map[reflect.Kind]byte{
		reflect.Bool: tBool, reflect.Int: tInt, reflect.Int8: tInt8, reflect.Int16: tInt16, reflect.Int32: tInt32,
		reflect.Int64: tInt64, reflect.Uint: tUint, reflect.Uint8: tUint8, reflect.Uint16: tUint16,
		reflect.Uint32: tUint32, reflect.Uint64: tUint64, reflect.Float32: tFloat32, reflect.Float64: tFloat64,
		reflect.String: tString,
	}
	// typeCodes are the types gocql switches on by type, described by their code alone.
	typeCodes = map[reflect.Type]byte{
		typeTime: tTime, typeDuration: tDuration, typeUUID: tUUID, typeCQLDuration: tCQLDuration, typeUnset: tUnset,
		typeIP: tIP, typeBigInt: tBigInt, typeDec: tDec, typeIface: tIface,
	}
	// codeTypes is what a code alone describes: the inverse of typeCodes, and the basic type of
	// each of kindCodes.
	codeTypes = func() map[byte]reflect.Type {
		m := map[byte]reflect.Type{}
		for t, c := range typeCodes {
			m[c] = t
		}
		for _, v := range []any{false, 0, int8(0), int16(0), int32(0), int64(0), uint(0), uint8(0), uint16(0),
			uint32(0), uint64(0), float32(0), float64(0), ""} {
			t := reflect.TypeOf(v)
			m[kindCodes[t.Kind()]] = t
		}
		return m
	}()
)

type encoder struct{ b []byte }

func (e *encoder) byte(c byte)      { e.b = append(e.b, c) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(s []byte)   { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bool(v bool)      { e.byte(map[bool]byte{false: 0, true: 1}[v]) }
func (e *encoder) fixed64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) fixed32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func unencodable(f string, a ...any) error {
	return fmt.Errorf("%w: "+f, append([]any{ErrUnencodable}, a...)...)
}

// typ writes the description of t.
func (e *encoder) typ(t reflect.Type) error {
	if c, ok := typeCodes[t]; ok {
		e.byte(c)
		return nil
	}
	if t.Implements(typeMarshaler) || t.Implements(typeUDTMarsh) ||
		(t.Kind() != reflect.Pointer && (reflect.PointerTo(t).Implements(typeMarshaler))) {
		return unencodable("%s marshals itself (gocql.Marshaler); bind its CQL form instead", t)
	}
	if c, ok := kindCodes[t.Kind()]; ok {
		e.byte(c)
		return nil
	}
	switch t.Kind() {
	case reflect.Slice:
		e.byte(tSlice)
		return e.typ(t.Elem())
	case reflect.Array:
		e.byte(tArray)
		e.uvarint(uint64(t.Len()))
		return e.typ(t.Elem())
	case reflect.Map:
		e.byte(tMap)
		if err := e.typ(t.Key()); err != nil {
			return err
		}
		return e.typ(t.Elem())
	case reflect.Pointer:
		e.byte(tPtr)
		return e.typ(t.Elem())
	case reflect.Struct:
		e.byte(tStruct)
		e.uvarint(uint64(t.NumField()))
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() || f.Anonymous {
				return unencodable("%s has an unexported or embedded field %s", t, f.Name)
			}
			e.str(f.Name)
			e.str(string(f.Tag))
			if err := e.typ(f.Type); err != nil {
				return err
			}
		}
		return nil
	}
	return unencodable("a %s cannot be bound to a CQL value", t)
}

// value writes v, whose type has been described.
func (e *encoder) value(v reflect.Value) error {
	t := v.Type()
	switch t {
	case typeTime:
		b, err := v.Interface().(time.Time).MarshalBinary()
		if err != nil {
			return unencodable("%v", err)
		}
		e.bytes(b)
		return nil
	case typeDuration:
		e.varint(v.Int())
		return nil
	case typeUUID:
		u := v.Interface().(gocql.UUID)
		e.b = append(e.b, u[:]...)
		return nil
	case typeCQLDuration:
		d := v.Interface().(gocql.Duration)
		e.varint(int64(d.Months))
		e.varint(int64(d.Days))
		e.varint(d.Nanoseconds)
		return nil
	case typeUnset:
		return nil
	case typeIP:
		e.bool(v.IsNil())
		e.bytes(v.Bytes())
		return nil
	case typeBigInt:
		e.bool(v.IsNil())
		if !v.IsNil() {
			e.str(v.Interface().(*big.Int).String())
		}
		return nil
	case typeDec:
		e.bool(v.IsNil())
		if !v.IsNil() {
			d := v.Interface().(*inf.Dec)
			e.varint(int64(d.Scale()))
			e.str(d.UnscaledBig().String())
		}
		return nil
	case typeIface:
		return e.iface(v)
	}
	switch t.Kind() {
	case reflect.Bool:
		e.bool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.varint(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		e.uvarint(v.Uint())
	case reflect.Float32:
		e.fixed32(math.Float32bits(float32(v.Float())))
	case reflect.Float64:
		e.fixed64(math.Float64bits(v.Float()))
	case reflect.String:
		e.str(v.String())
	case reflect.Slice:
		e.bool(v.IsNil())
		if t.Elem().Kind() == reflect.Uint8 {
			e.bytes(v.Bytes())
			return nil
		}
		e.uvarint(uint64(v.Len()))
		for i := 0; i < v.Len(); i++ {
			if err := e.value(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if err := e.value(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		e.bool(v.IsNil())
		e.uvarint(uint64(v.Len()))
		it := v.MapRange()
		for it.Next() {
			if err := e.value(it.Key()); err != nil {
				return err
			}
			if err := e.value(it.Value()); err != nil {
				return err
			}
		}
	case reflect.Pointer:
		e.bool(v.IsNil())
		if !v.IsNil() {
			return e.value(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if err := e.value(v.Field(i)); err != nil {
				return err
			}
		}
	default:
		return unencodable("a %s cannot be bound to a CQL value", t)
	}
	return nil
}

// iface writes an interface value: its type, then the value.
func (e *encoder) iface(v reflect.Value) error {
	if v.Kind() == reflect.Interface {
		if v.IsNil() {
			e.byte(tNilIface)
			return nil
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		e.byte(tNilIface)
		return nil
	}
	if err := e.typ(v.Type()); err != nil {
		return err
	}
	return e.value(v)
}

// encodeValue appends one bound value (an interface) to b.
func encodeValue(b []byte, v any) ([]byte, error) {
	e := encoder{b: b}
	err := e.iface(reflect.ValueOf(&v).Elem())
	return e.b, err
}

var errCorrupt = errors.New("dualwrite: replay log entry is corrupt")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(f string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+f, append([]any{errCorrupt}, a...)...)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("short")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 { return readVarint(d, binary.Uvarint, "uvarint") }
func (d *decoder) varint() int64   { return readVarint(d, binary.Varint, "varint") }

// readVarint reads one varint with read (binary.Uvarint or binary.Varint), named what in errors.
func readVarint[T uint64 | int64](d *decoder, read func([]byte) (T, int), what string) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b)
	if n <= 0 {
		d.fail("bad %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// raw returns the next n bytes; after an error, n zero bytes (up to 16) so callers need no check.
func (d *decoder) raw(n uint64) []byte {
	if d.err != nil || uint64(len(d.b)) < n {
		d.fail("short")
		return make([]byte, min(n, 16))
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte { return d.raw(d.uvarint()) }
func (d *decoder) str() string   { return string(d.bytes()) }
func (d *decoder) bool() bool    { return d.byte() != 0 }

// length reads a count of items of at least one byte each, bounded by what is left.
func (d *decoder) length() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("length %d beyond the entry", n)
		return 0
	}
	return int(n)
}

const maxTypeDepth = 64

func (d *decoder) typ(depth int) reflect.Type {
	if depth > maxTypeDepth {
		d.fail("type nested too deep")
		return nil
	}
	c := d.byte()
	if d.err != nil {
		return nil
	}
	if t, ok := codeTypes[c]; ok {
		return t
	}
	var t reflect.Type
	defer func() { // reflect panics on types it cannot build (a corrupt description)
		if r := recover(); r != nil {
			d.fail("type: %v", r)
			t = nil
		}
	}()
	switch c {
	case tSlice:
		if el := d.typ(depth + 1); el != nil {
			t = reflect.SliceOf(el)
		}
	case tArray:
		n := d.length()
		if el := d.typ(depth + 1); el != nil {
			t = reflect.ArrayOf(n, el)
		}
	case tMap:
		k, el := d.typ(depth+1), d.typ(depth+1)
		if k != nil && el != nil {
			t = reflect.MapOf(k, el)
		}
	case tPtr:
		if el := d.typ(depth + 1); el != nil {
			t = reflect.PointerTo(el)
		}
	case tStruct:
		n := d.length()
		fields := make([]reflect.StructField, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			name, tag := d.str(), d.str()
			ft := d.typ(depth + 1)
			fields = append(fields, reflect.StructField{Name: name, Tag: reflect.StructTag(tag), Type: ft})
		}
		if d.err == nil {
			t = reflect.StructOf(fields)
		}
	default:
		d.fail("type code %d", c)
	}
	if t != nil && t.Size() > 1<<20 { // a corrupt description must not allocate gigabytes
		d.fail("type %s too large", t)
		t = nil
	}
	return t
}

// value reads a value of type t into a new reflect.Value.
func (d *decoder) value(t reflect.Type, depth int) reflect.Value {
	v := reflect.New(t).Elem()
	if d.err != nil {
		return v
	}
	if depth > maxTypeDepth {
		d.fail("value nested too deep")
		return v
	}
	switch t {
	case typeTime:
		var tm time.Time
		if err := tm.UnmarshalBinary(d.bytes()); err != nil && d.err == nil {
			d.fail("time: %v", err)
		}
		v.Set(reflect.ValueOf(tm))
		return v
	case typeDuration:
		v.SetInt(d.varint())
		return v
	case typeUUID:
		var u gocql.UUID
		copy(u[:], d.raw(16))
		v.Set(reflect.ValueOf(u))
		return v
	case typeCQLDuration:
		v.Set(reflect.ValueOf(gocql.Duration{Months: int32(d.varint()), Days: int32(d.varint()), Nanoseconds: d.varint()}))
		return v
	case typeUnset:
		return v
	case typeIP:
		isNil, b := d.bool(), d.bytes()
		if !isNil {
			v.SetBytes(append([]byte{}, b...))
		}
		return v
	case typeBigInt:
		if !d.bool() {
			s := d.str()
			n, ok := new(big.Int).SetString(s, 10)
			if !ok {
				d.fail("varint %q", s)
				return v
			}
			v.Set(reflect.ValueOf(n))
		}
		return v
	case typeDec:
		if !d.bool() {
			scale, s := d.varint(), d.str()
			n, ok := new(big.Int).SetString(s, 10)
			if !ok {
				d.fail("decimal %q", s)
				return v
			}
			v.Set(reflect.ValueOf(inf.NewDecBig(n, inf.Scale(scale))))
		}
		return v
	case typeIface:
		if iv := d.iface(depth + 1); iv.IsValid() {
			v.Set(iv)
		}
		return v
	}
	switch t.Kind() {
	case reflect.Bool:
		v.SetBool(d.bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(d.varint())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(d.uvarint())
	case reflect.Float32:
		v.SetFloat(float64(math.Float32frombits(binary.BigEndian.Uint32(d.raw(4)))))
	case reflect.Float64:
		v.SetFloat(math.Float64frombits(binary.BigEndian.Uint64(d.raw(8))))
	case reflect.String:
		v.SetString(d.str())
	case reflect.Slice:
		if d.bool() {
			if t.Elem().Kind() == reflect.Uint8 {
				d.bytes()
			} else {
				d.uvarint()
			}
			return v
		}
		if t.Elem().Kind() == reflect.Uint8 {
			b := d.bytes()
			s := reflect.MakeSlice(t, len(b), len(b))
			reflect.Copy(s, reflect.ValueOf(b))
			v.Set(s)
			return v
		}
		n := d.length()
		s := reflect.MakeSlice(t, n, n)
		for i := 0; i < n && d.err == nil; i++ {
			s.Index(i).Set(d.value(t.Elem(), depth+1))
		}
		v.Set(s)
	case reflect.Array:
		for i := 0; i < t.Len() && d.err == nil; i++ {
			v.Index(i).Set(d.value(t.Elem(), depth+1))
		}
	case reflect.Map:
		isNil := d.bool()
		n := d.length()
		if isNil {
			return v
		}
		m := reflect.MakeMapWithSize(t, n)
		for i := 0; i < n && d.err == nil; i++ {
			k := d.value(t.Key(), depth+1)
			el := d.value(t.Elem(), depth+1)
			if d.err == nil {
				m.SetMapIndex(k, el)
			}
		}
		v.Set(m)
	case reflect.Pointer:
		if !d.bool() {
			p := reflect.New(t.Elem())
			p.Elem().Set(d.value(t.Elem(), depth+1))
			v.Set(p)
		}
	case reflect.Struct:
		for i := 0; i < t.NumField() && d.err == nil; i++ {
			v.Field(i).Set(d.value(t.Field(i).Type, depth+1))
		}
	default:
		d.fail("kind %s", t.Kind())
	}
	return v
}

// iface reads an interface value; an untyped nil is the invalid Value.
func (d *decoder) iface(depth int) reflect.Value {
	if d.err == nil && len(d.b) > 0 && d.b[0] == tNilIface {
		d.b = d.b[1:]
		return reflect.Value{}
	}
	t := d.typ(depth)
	if d.err != nil || t == nil {
		return reflect.Value{}
	}
	return d.value(t, depth)
}

// decodeValue reads one bound value.
func (d *decoder) decodeValue() any {
	v := d.iface(0)
	if !v.IsValid() || d.err != nil {
		return nil
	}
	return v.Interface()
}

func encodeEntry(en *Entry) ([]byte, error) {
	e := encoder{b: make([]byte, 0, 128)}
	e.byte(entryMagic)
	e.byte(entryVersion)
	e.str(en.Side)
	e.varint(en.Timestamp)
	// One byte: bit 0 Batch, bit 1 Unacked. A version before Unacked reads any non-zero byte as
	// Batch: it replays an unacknowledged single statement as a batch of one, the same write.
	var flags byte
	if en.Batch {
		flags |= 1
	}
	if en.Unacked {
		flags |= 2
	}
	e.byte(flags)
	e.byte(byte(en.BatchType))
	e.uvarint(uint64(en.Consistency))
	var logged int64
	if !en.Logged.IsZero() {
		logged = en.Logged.UnixNano()
	}
	e.varint(logged)
	e.uvarint(uint64(len(en.Stmts)))
	for _, st := range en.Stmts {
		e.str(st.Stmt)
		expiry := st.Expiry
		if expiry == 0 {
			expiry = expiryOf(st, logged/1e3)
		}
		e.varint(expiry)
		if st.enc != nil {
			e.b = append(e.b, st.enc...) // encoded once before the write was sent (encodeValues)
			continue
		}
		var err error
		if e.b, err = encodeValues(e.b, st); err != nil {
			return nil, err
		}
	}
	return e.b, nil
}

// encodeValues appends st's values as an entry holds them: their count, then each value.
func encodeValues(b []byte, st Stmt) ([]byte, error) {
	e := encoder{b: binary.AppendUvarint(b, uint64(len(st.Values)))}
	for i := range st.Values {
		// The element's own address: no interface box allocated per value (encodeValue's &v).
		if err := e.iface(reflect.ValueOf(&st.Values[i]).Elem()); err != nil {
			// The statement as logStmt masks it: this error is logged at error level
			// (asyncWorker's replay_log_err), and its literals may be member data.
			return nil, fmt.Errorf("%w (value %d of %s)", err, i, errStmt(st.Stmt))
		}
	}
	return e.b, nil
}

func decodeEntry(b []byte) (en Entry, err error) {
	d := decoder{b: b}
	if m, v := d.byte(), d.byte(); d.err != nil || m != entryMagic || v != entryVersion {
		return en, fmt.Errorf("%w: unknown entry format %#x version %d", errCorrupt, m, v)
	}
	en.Side = d.str()
	en.Timestamp = d.varint()
	flags := d.byte()
	en.Batch, en.Unacked = flags&1 != 0, flags&2 != 0
	en.BatchType = gocql.BatchType(d.byte())
	en.Consistency = gocql.Consistency(d.uvarint())
	if ns := d.varint(); ns != 0 {
		en.Logged = time.Unix(0, ns)
	}
	n := d.length()
	for i := 0; i < n && d.err == nil; i++ {
		st := Stmt{Stmt: d.str(), Expiry: d.varint()}
		nv := d.length()
		if nv > 0 {
			st.Values = make([]any, nv)
		}
		for j := 0; j < nv && d.err == nil; j++ {
			st.Values[j] = d.decodeValue()
		}
		en.Stmts = append(en.Stmts, st)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return en, d.err
}
