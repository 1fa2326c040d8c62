package cql

import (
	"fmt"
	"strings"

	"github.com/globalcloud/islands/internal/codec"
)

// Shape is how a column type is stored, as far as copying cells is concerned.
type Shape uint8

const (
	// SingleCell types are one cell: scalars, frozen collections, frozen UDTs, tuples, vectors.
	SingleCell Shape = iota
	// MultiSet is a non-frozen set: one cell per element.
	MultiSet
	// MultiMap is a non-frozen map: one cell per entry.
	MultiMap
	// MultiList is a non-frozen list: one cell per element, keyed by a server-made timeuuid.
	MultiList
	// Counter columns cannot be written with a timestamp: copying them needs its own mode.
	Counter
	// MultiUDT is a non-frozen user-defined type: one cell per field.
	MultiUDT
)

// String names the shape for error messages.
func (s Shape) String() string {
	switch s {
	case SingleCell:
		return "single cell"
	case MultiSet:
		return "non-frozen set"
	case MultiMap:
		return "non-frozen map"
	case MultiList:
		return "non-frozen list"
	case Counter:
		return "counter"
	case MultiUDT:
		return "non-frozen user-defined type"
	}
	return fmt.Sprintf("shape(%d)", uint8(s))
}

// ShapeOf returns the shape of a system_schema type string ("set<text>", "frozen<list<int>>",
// "counter", "address"). udts names the keyspace's user-defined types, so that a bare UDT name,
// which system_schema uses for a non-frozen UDT, is recognised.
func ShapeOf(typ string, udts map[string]bool) Shape {
	t := strings.TrimSpace(typ)
	switch {
	case t == "counter":
		return Counter
	case strings.HasPrefix(t, "frozen<"):
		return SingleCell
	case strings.HasPrefix(t, "set<"):
		return MultiSet
	case strings.HasPrefix(t, "map<"):
		return MultiMap
	case strings.HasPrefix(t, "list<"):
		return MultiList
	case udts[t]:
		return MultiUDT
	}
	return SingleCell
}

// Compatible reports whether a value of type src can be written, byte for byte, into a column of
// type dst. It is deliberately strict: the only accepted difference is spelling (text/varchar,
// case, spacing); int into bigint, for one, would need re-encoding and is refused.
func Compatible(src, dst string) bool {
	s, d := codec.NormalizeType(src), codec.NormalizeType(dst)
	return s == d
}
