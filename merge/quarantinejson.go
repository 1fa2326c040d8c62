package merge

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// quarantineRecord is the JSON form of a Quarantine, one per line in a quarantine file: the table,
// the partition key, the reason and both versions, with every key component and value in hex.
// Readers ignore fields they do not know (forklift adds the run and the time).
type quarantineRecord struct {
	Table       string         `json:"table"`
	Key         []string       `json:"key"`
	Reason      string         `json:"reason"`
	Source      *jsonPartition `json:"source"`
	Destination *jsonPartition `json:"destination,omitempty"`
}

// jsonPartition is a Partition with hex-encoded keys and values.
type jsonPartition struct {
	Key  []string  `json:"key"`
	Rows []jsonRow `json:"rows"`
}

// jsonRow is a Row with hex-encoded clustering components.
type jsonRow struct {
	Clustering []string     `json:"clustering"`
	Static     bool         `json:"static,omitempty"`
	Columns    []jsonColumn `json:"columns"`
}

// jsonColumn is a Column; Kind is "simple", "set", "map" or "list".
type jsonColumn struct {
	Name    string     `json:"name"`
	Kind    string     `json:"kind"`
	Present bool       `json:"present"`
	Cell    *jsonCell  `json:"cell,omitempty"`
	Elems   []jsonElem `json:"elems,omitempty"`
}

// jsonElem is an Elem with a hex-encoded key.
type jsonElem struct {
	Key  string   `json:"key"`
	Cell jsonCell `json:"cell"`
}

// jsonCell is a Cell with a hex-encoded value; Null marks a nil value (as opposed to empty bytes).
type jsonCell struct {
	Value     string `json:"value"`
	Null      bool   `json:"null,omitempty"`
	WriteTime int64  `json:"writetime"`
	TTL       int32  `json:"ttl,omitempty"`
	Deleted   bool   `json:"deleted,omitempty"`
}

var kindNames = [...]string{Simple: "simple", Set: "set", Map: "map", List: "list"}

// QuarantineJSONLine encodes q for table as one JSON line, newline included, for forklift to append
// to its quarantine file.
func QuarantineJSONLine(table string, q *Quarantine) ([]byte, error) {
	if q == nil || q.Source == nil {
		return nil, fmt.Errorf("merge: quarantine record for %s: no source partition", table)
	}
	rec := quarantineRecord{Table: table, Key: hexKey(q.Source.Key), Reason: q.Reason, Source: toJSON(q.Source), Destination: toJSON(q.Destination)}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("merge: quarantine record for %s: %w", table, err)
	}
	return append(b, '\n'), nil
}

// ParseQuarantineJSONLine decodes a line written by QuarantineJSONLine.
func ParseQuarantineJSONLine(line []byte) (table string, q *Quarantine, err error) {
	var rec quarantineRecord
	if err := json.Unmarshal(line, &rec); err != nil {
		return "", nil, fmt.Errorf("merge: quarantine record: %w", err)
	}
	q = &Quarantine{Reason: rec.Reason}
	if q.Source, err = rec.Source.Partition(); err != nil {
		return "", nil, fmt.Errorf("merge: quarantine record for %s: source: %w", rec.Table, err)
	}
	if q.Destination, err = rec.Destination.Partition(); err != nil {
		return "", nil, fmt.Errorf("merge: quarantine record for %s: destination: %w", rec.Table, err)
	}
	return rec.Table, q, nil
}

// toJSON converts p (nil: nil) to its JSON form.
func toJSON(p *Partition) *jsonPartition {
	if p == nil {
		return nil
	}
	jp := &jsonPartition{Key: hexKey(p.Key), Rows: make([]jsonRow, len(p.Rows))}
	for i, r := range p.Rows {
		jr := jsonRow{Clustering: hexKey(r.Clustering), Static: r.Static, Columns: make([]jsonColumn, len(r.Columns))}
		for j, c := range r.Columns {
			jc := jsonColumn{Name: c.Name, Kind: kindName(c.Kind), Present: c.Present}
			if c.Kind == Simple || !isZeroCell(c.Cell) {
				cell := cellJSON(c.Cell)
				jc.Cell = &cell
			}
			for _, e := range c.Elems {
				jc.Elems = append(jc.Elems, jsonElem{Key: hex.EncodeToString(e.Key), Cell: cellJSON(e.Cell)})
			}
			jr.Columns[j] = jc
		}
		jp.Rows[i] = jr
	}
	return jp
}

// Partition converts the JSON form back (nil: nil).
func (jp *jsonPartition) Partition() (*Partition, error) {
	if jp == nil {
		return nil, nil
	}
	key, err := unhexKey(jp.Key)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	p := &Partition{Key: key, Rows: make([]Row, len(jp.Rows))}
	for i, jr := range jp.Rows {
		ck, err := unhexKey(jr.Clustering)
		if err != nil {
			return nil, fmt.Errorf("row %d clustering: %w", i, err)
		}
		r := Row{Clustering: ck, Static: jr.Static, Columns: make([]Column, len(jr.Columns))}
		for j, jc := range jr.Columns {
			k, ok := kindOf(jc.Kind)
			if !ok {
				return nil, fmt.Errorf("row %d column %q: kind %q", i, jc.Name, jc.Kind)
			}
			c := Column{Name: jc.Name, Kind: k, Present: jc.Present}
			if jc.Cell != nil {
				if c.Cell, err = jc.Cell.cell(); err != nil {
					return nil, fmt.Errorf("row %d column %q: %w", i, jc.Name, err)
				}
			}
			for _, je := range jc.Elems {
				ek, err := hex.DecodeString(je.Key)
				if err != nil {
					return nil, fmt.Errorf("row %d column %q element key: %w", i, jc.Name, err)
				}
				ec, err := je.Cell.cell()
				if err != nil {
					return nil, fmt.Errorf("row %d column %q element: %w", i, jc.Name, err)
				}
				c.Elems = append(c.Elems, Elem{Key: ek, Cell: ec})
			}
			r.Columns[j] = c
		}
		p.Rows[i] = r
	}
	return p, nil
}

func isZeroCell(c Cell) bool {
	return c.Value == nil && c.WriteTime == 0 && c.TTL == 0 && !c.Deleted
}

func cellJSON(c Cell) jsonCell {
	return jsonCell{Value: hex.EncodeToString(c.Value), Null: c.Value == nil, WriteTime: c.WriteTime, TTL: c.TTL, Deleted: c.Deleted}
}

func (jc jsonCell) cell() (Cell, error) {
	c := Cell{WriteTime: jc.WriteTime, TTL: jc.TTL, Deleted: jc.Deleted}
	if !jc.Null {
		v, err := hex.DecodeString(jc.Value)
		if err != nil {
			return Cell{}, err
		}
		c.Value = v
		if c.Value == nil {
			c.Value = []byte{}
		}
	}
	return c, nil
}

func kindName(k Kind) string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

func kindOf(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n == s {
			return Kind(k), true
		}
	}
	return 0, false
}

func hexKey(k [][]byte) []string {
	out := make([]string, len(k))
	for i, b := range k {
		out[i] = hex.EncodeToString(b)
	}
	return out
}

func unhexKey(s []string) ([][]byte, error) {
	if s == nil {
		return nil, nil
	}
	out := make([][]byte, len(s))
	for i, h := range s {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, err
		}
		if b == nil {
			b = []byte{}
		}
		out[i] = b
	}
	return out, nil
}
