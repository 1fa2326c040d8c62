package recordlog

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

const (
	headerSize = 12
	kindFull   = 0xA1
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errInvalid marks a record that is torn, corrupt or zero-filled: the valid part of its segment
// ends before it.
var errInvalid = errors.New("invalid record")

// appendRecord appends payload, framed, to buf.
func appendRecord(buf, payload []byte) []byte {
	var h [headerSize]byte
	binary.BigEndian.PutUint32(h[4:8], uint32(len(payload)))
	h[8] = kindFull
	c := crc32.Update(0, crcTable, h[4:])
	c = crc32.Update(c, crcTable, payload)
	binary.BigEndian.PutUint32(h[0:4], c)
	buf = append(buf, h[:]...)
	return append(buf, payload...)
}

// readRecord reads one record from r. It returns io.EOF at a clean end (no byte of a header) and
// errInvalid for a torn or corrupt record; any other error is the reader's.
func readRecord(r io.Reader, maxRecord int) ([]byte, error) {
	var h [headerSize]byte
	n, err := io.ReadFull(r, h[:])
	if err == io.EOF && n == 0 {
		return nil, io.EOF
	}
	if err == io.ErrUnexpectedEOF {
		return nil, errInvalid
	}
	if err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(h[4:8])
	if h[8] != kindFull || h[9] != 0 || h[10] != 0 || h[11] != 0 || int64(size) > int64(maxRecord) {
		return nil, errInvalid
	}
	payload := make([]byte, size)
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return nil, errInvalid
		}
		return nil, err
	}
	c := crc32.Update(0, crcTable, h[4:])
	c = crc32.Update(c, crcTable, payload)
	if c != binary.BigEndian.Uint32(h[0:4]) {
		return nil, errInvalid
	}
	return payload, nil
}

func crc32Update(b []byte) uint32 { return crc32.Checksum(b, crcTable) }
