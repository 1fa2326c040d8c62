package cql

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/gocql/gocql"
)

// ErrNoTable is returned when system_schema has no such table (or keyspace).
var ErrNoTable = errors.New("cql: table not found")

// Column is one column of a table as system_schema describes it.
type Column struct {
	Name     string
	Type     string // as system_schema spells it, e.g. "frozen<set<text>>"
	Kind     string // partition_key, clustering, regular, static
	Position int    // order within the partition key or clustering key
	Order    string // clustering order: asc, desc or none
	Shape    Shape
}

// Table is the shape of one table: its key columns in key order, then its other columns by name.
type Table struct {
	Keyspace     string
	Name         string
	PartitionKey []Column
	Clustering   []Column
	Regular      []Column // regular and static columns, sorted by name
}

// Column returns the column called name, or false.
func (t *Table) Column(name string) (Column, bool) {
	for _, cs := range [][]Column{t.PartitionKey, t.Clustering, t.Regular} {
		for _, c := range cs {
			if c.Name == name {
				return c, true
			}
		}
	}
	return Column{}, false
}

// KeyNames returns the partition key column names, then the clustering column names.
func (t *Table) KeyNames() []string {
	var out []string
	for _, c := range t.PartitionKey {
		out = append(out, c.Name)
	}
	for _, c := range t.Clustering {
		out = append(out, c.Name)
	}
	return out
}

// PartitionKeyNames returns the partition key column names in key order.
func (t *Table) PartitionKeyNames() []string {
	out := make([]string, len(t.PartitionKey))
	for i, c := range t.PartitionKey {
		out[i] = c.Name
	}
	return out
}

// String is keyspace.table.
func (t *Table) String() string { return t.Keyspace + "." + t.Name }

// ReadTable reads one table's columns from system_schema.
func ReadTable(ctx context.Context, s *gocql.Session, keyspace, table string) (*Table, error) {
	udts, err := readUDTs(ctx, s, keyspace)
	if err != nil {
		return nil, err
	}
	iter := s.Query(`SELECT column_name, type, kind, position, clustering_order FROM system_schema.columns
		WHERE keyspace_name = ? AND table_name = ?`, keyspace, table).WithContext(ctx).Iter()
	t := &Table{Keyspace: keyspace, Name: table}
	var c Column
	for iter.Scan(&c.Name, &c.Type, &c.Kind, &c.Position, &c.Order) {
		c.Shape = ShapeOf(c.Type, udts)
		switch c.Kind {
		case "partition_key":
			t.PartitionKey = append(t.PartitionKey, c)
		case "clustering":
			t.Clustering = append(t.Clustering, c)
		default:
			t.Regular = append(t.Regular, c)
		}
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("read system_schema.columns of %s.%s: %w", keyspace, table, err)
	}
	if len(t.PartitionKey) == 0 {
		return nil, fmt.Errorf("%w: %s.%s", ErrNoTable, keyspace, table)
	}
	sort.Slice(t.PartitionKey, func(i, j int) bool { return t.PartitionKey[i].Position < t.PartitionKey[j].Position })
	sort.Slice(t.Clustering, func(i, j int) bool { return t.Clustering[i].Position < t.Clustering[j].Position })
	sort.Slice(t.Regular, func(i, j int) bool { return t.Regular[i].Name < t.Regular[j].Name })
	return t, nil
}

// ListTables returns the names of a keyspace's tables, sorted.
func ListTables(ctx context.Context, s *gocql.Session, keyspace string) ([]string, error) {
	iter := s.Query(`SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?`, keyspace).WithContext(ctx).Iter()
	var names []string
	var n string
	for iter.Scan(&n) {
		names = append(names, n)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("read system_schema.tables of %s: %w", keyspace, err)
	}
	sort.Strings(names)
	return names, nil
}

func readUDTs(ctx context.Context, s *gocql.Session, keyspace string) (map[string]bool, error) {
	iter := s.Query(`SELECT type_name FROM system_schema.types WHERE keyspace_name = ?`, keyspace).WithContext(ctx).Iter()
	out := map[string]bool{}
	var n string
	for iter.Scan(&n) {
		out[n] = true
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("read system_schema.types of %s: %w", keyspace, err)
	}
	return out, nil
}
