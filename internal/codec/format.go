package codec

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Format renders a serialised value of type typ for a person: text as a quoted string, integers in
// decimal, anything else as 0x-hex. It is for samples in reports, not for parsing back.
func Format(typ string, b []byte) string {
	if b == nil {
		return "null"
	}
	switch NormalizeType(typ) {
	case "text", "ascii":
		if utf8.Valid(b) {
			return strconv.Quote(string(b))
		}
	case "int":
		if len(b) == 4 {
			return strconv.FormatInt(int64(int32(binary.BigEndian.Uint32(b))), 10)
		}
	case "bigint", "counter":
		if len(b) == 8 {
			return strconv.FormatInt(int64(binary.BigEndian.Uint64(b)), 10)
		}
	case "uuid", "timeuuid":
		if len(b) == 16 {
			h := hex.EncodeToString(b)
			return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		}
	}
	return "0x" + hex.EncodeToString(b)
}

// aliases are type names that serialise identically.
var aliases = map[string]string{"varchar": "text"}

// NormalizeType lower-cases a type string, removes spaces and maps aliases, so that two spellings of
// one type compare equal.
func NormalizeType(typ string) string {
	t := strings.ToLower(strings.ReplaceAll(typ, " ", ""))
	if a, ok := aliases[t]; ok {
		return a
	}
	return strings.ReplaceAll(t, "varchar", "text")
}
