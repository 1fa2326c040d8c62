package cql

import "github.com/gocql/gocql"

// Raw is a value as its CQL serialisation. Scanning into a *Raw keeps the bytes the server sent
// (nil for a null); binding a Raw sends its bytes as they are. It lets forklift copy every type,
// user-defined and future ones included, without decoding it.
type Raw []byte

// UnmarshalCQL keeps a copy of data: gocql reuses its frame buffers.
func (r *Raw) UnmarshalCQL(_ gocql.TypeInfo, data []byte) error {
	if data == nil {
		*r = nil
		return nil
	}
	*r = append(make([]byte, 0, len(data)), data...)
	return nil
}

// MarshalCQL returns the bytes unchanged; a nil Raw is a null.
func (r Raw) MarshalCQL(_ gocql.TypeInfo) ([]byte, error) {
	return []byte(r), nil
}
