package merge

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// QuarantineRecord is the JSON form of a Quarantine, one per line in a quarantine file: the table,
// the partition key, the reason and both versions, with every key component and value in hex.
type QuarantineRecord struct {
	Table       string         `json:"table"`
	Key         []string       `json:"key"`
	Reason      string         `json:"reason"`
	Source      *JSONPartition `json:"source"`
	Destination *JSONPartition `json:"destination,omitempty"`
}

// JSONPartition is a Partition with hex-encoded keys and values.
type JSONPartition struct {
	Key  []string  `json:"key"`
	Rows []JSONRow `json:"rows"`
}

// JSONRow is a Row with hex-encoded clustering components.
type JSONRow struct {
	Clustering []string     `json:"clustering"`
	Columns    []JSONColumn `json:"columns"`
}

// JSONColumn is a Column; Kind is "simple", "set", "map" or "list".
type JSONColumn struct {
	Name    string     `json:"name"`
	Kind    string     `json:"kind"`
	Present bool       `json:"present"`
	Cell    *JSONCell  `json:"cell,omitempty"`
	Elems   []JSONElem `json:"elems,omitempty"`
}

// JSONElem is an Elem with a hex-encoded key.
type JSONElem struct {
	Key  string   `json:"key"`
	Cell JSONCell `json:"cell"`
}

// JSONCell is a Cell with a hex-encoded value; Null marks a nil value (as opposed to empty bytes).
type JSONCell struct {
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
	rec := QuarantineRecord{Table: table, Key: hexKey(q.Source.Key), Reason: q.Reason, Source: ToJSON(q.Source), Destination: ToJSON(q.Destination)}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("merge: quarantine record for %s: %w", table, err)
	}
	return append(b, '\n'), nil
}

// ParseQuarantineJSONLine decodes a line written by QuarantineJSONLine.
func ParseQuarantineJSONLine(line []byte) (table string, q *Quarantine, err error) {
	var rec QuarantineRecord
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

// ToJSON converts p (nil: nil) to its JSON form.
func ToJSON(p *Partition) *JSONPartition {
	if p == nil {
		return nil
	}
	jp := &JSONPartition{Key: hexKey(p.Key), Rows: make([]JSONRow, len(p.Rows))}
	for i, r := range p.Rows {
		jr := JSONRow{Clustering: hexKey(r.Clustering), Columns: make([]JSONColumn, len(r.Columns))}
		for j, c := range r.Columns {
			jc := JSONColumn{Name: c.Name, Kind: kindName(c.Kind), Present: c.Present}
			if c.Kind == Simple || !isZeroCell(c.Cell) {
				cell := jsonCell(c.Cell)
				jc.Cell = &cell
			}
			for _, e := range c.Elems {
				jc.Elems = append(jc.Elems, JSONElem{Key: hex.EncodeToString(e.Key), Cell: jsonCell(e.Cell)})
			}
			jr.Columns[j] = jc
		}
		jp.Rows[i] = jr
	}
	return jp
}

// Partition converts the JSON form back (nil: nil).
func (jp *JSONPartition) Partition() (*Partition, error) {
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
		r := Row{Clustering: ck, Columns: make([]Column, len(jr.Columns))}
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

func jsonCell(c Cell) JSONCell {
	return JSONCell{Value: hex.EncodeToString(c.Value), Null: c.Value == nil, WriteTime: c.WriteTime, TTL: c.TTL, Deleted: c.Deleted}
}

func (jc JSONCell) cell() (Cell, error) {
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
