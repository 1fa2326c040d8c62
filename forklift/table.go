package forklift

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// table is one dataset ready to copy: both schemas checked, the statements built once.
type table struct {
	cfg      TableConfig
	src, dst *cql.Table
	cols     []cql.Column // the source's regular columns, all present in the destination
	resolver merge.Resolver
	blind    bool // lww: write the source cells as they are, never read the destination

	selectRange     string // source or destination: token(pk), pk…, ck…, (c, writetime(c), ttl(c))…
	selectDstRange  string
	selectPartition string // destination, one partition by its key
	dstName         string // quoted destination keyspace.table
	nkey            int    // partition key columns
	nck             int    // clustering columns
	static          []bool // per column of cols: a static column
	nstatic         int

	stmts stmtCache
}

// Name is the source keyspace.table.
func (t *table) Name() string { return t.cfg.Name() }

// resolveTables expands the config's keyspaces and tables into the list to copy, each resolver
// looked up; explicit tables override a keyspace's default entry.
func resolveTables(ctx context.Context, cfg *Config, src *gocql.Session) ([]TableConfig, error) {
	seen := map[string]int{}
	var out []TableConfig
	for _, ks := range cfg.Keyspaces {
		names, err := cql.ListTables(ctx, src, ks)
		if err != nil {
			return nil, fmt.Errorf("forklift: list tables of keyspace %s in the source: %w", ks, err)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%w: keyspace %s has no tables in the source (does it exist?)", ErrTableNotFound, ks)
		}
		for _, n := range names {
			seen[ks+"."+n] = len(out)
			out = append(out, TableConfig{Keyspace: ks, Table: n, Resolver: cfg.DefaultResolver})
		}
	}
	for _, t := range cfg.Tables {
		if i, ok := seen[t.Name()]; ok {
			out[i] = t
			continue
		}
		seen[t.Name()] = len(out)
		out = append(out, t)
	}
	return out, nil
}

// loadTables resolves the config's tables and loads each (see loadTable).
func loadTables(ctx context.Context, cfg *Config, src, dst *gocql.Session) ([]*table, error) {
	tcs, err := resolveTables(ctx, cfg, src)
	if err != nil {
		return nil, err
	}
	tables := make([]*table, 0, len(tcs))
	for _, tc := range tcs {
		t, err := loadTable(ctx, tc, src, dst, cfg.CreateTables)
		if err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return tables, nil
}

// loadTable reads both schemas, refuses what cannot be copied, and builds the statements.
func loadTable(ctx context.Context, tc TableConfig, src, dst *gocql.Session, create bool) (*table, error) {
	srcT, err := cql.ReadTable(ctx, src, tc.Keyspace, tc.Table)
	if errors.Is(err, cql.ErrNoTable) {
		return nil, fmt.Errorf("%w: %s does not exist in the source (check tables[].keyspace/table)", ErrTableNotFound, tc.Name())
	} else if err != nil {
		return nil, fmt.Errorf("forklift: read source schema of %s: %w", tc.Name(), err)
	}
	dstT, err := cql.ReadTable(ctx, dst, tc.DestKeyspace(), tc.Table)
	if errors.Is(err, cql.ErrNoTable) && create {
		if err = createDestinationTable(ctx, dst, tc, srcT); err != nil {
			return nil, err
		}
		dstT, err = cql.ReadTable(ctx, dst, tc.DestKeyspace(), tc.Table)
	}
	if errors.Is(err, cql.ErrNoTable) {
		return nil, fmt.Errorf("%w: %s.%s does not exist in the destination: create it with the source's schema first, "+
			"or let forklift do it (create_tables: true, --create-table)", ErrTableNotFound, tc.DestKeyspace(), tc.Table)
	} else if err != nil {
		return nil, fmt.Errorf("forklift: read destination schema of %s.%s: %w", tc.DestKeyspace(), tc.Table, err)
	}
	return newTable(tc, srcT, dstT)
}

// newTable checks the two schemas of one dataset and builds its statements (no I/O).
func newTable(tc TableConfig, srcT, dstT *cql.Table) (*table, error) {
	if err := compareSchemas(srcT, dstT); err != nil {
		return nil, err
	}
	res, err := merge.New(tc.Resolver, tc.Options)
	if err != nil {
		return nil, fmt.Errorf("%w: table %s: %v", ErrUnknownResolver, tc.Name(), err)
	}
	// A rule that orders a column's values (newest-by) orders them by the column's CQL type; a
	// resolver whose options name columns or clustering components checks them against the
	// table's shape here (merge.Bind), not at the first partition, whose key is member data.
	schema := merge.Schema{Types: map[string]string{}, PartitionKey: srcT.PartitionKeyNames()}
	for _, c := range srcT.Clustering {
		schema.Clustering = append(schema.Clustering, c.Name)
	}
	for _, cols := range [][]cql.Column{srcT.PartitionKey, srcT.Clustering, srcT.Regular} {
		for _, c := range cols {
			schema.Types[c.Name] = c.Type
		}
	}
	if res, err = merge.Bind(res, schema); err != nil {
		return nil, resolverError(fmt.Sprintf("table %s resolver %s: %s", tc.Name(), tc.Resolver, strings.TrimPrefix(err.Error(), "merge: ")))
	}
	t := &table{cfg: tc, src: srcT, dst: dstT, cols: srcT.Regular, resolver: res, blind: !res.NeedsDestination()}
	t.nkey, t.nck = len(srcT.PartitionKey), len(srcT.Clustering)
	t.static = make([]bool, len(t.cols))
	for i, c := range t.cols {
		if c.Kind == "static" {
			t.static[i] = true
			t.nstatic++
		}
	}
	t.dstName = cql.QuoteTable(dstT.Keyspace, dstT.Name)
	t.selectRange = t.buildSelect(cql.QuoteTable(srcT.Keyspace, srcT.Name), true)
	t.selectDstRange = t.buildSelect(t.dstName, true)
	t.selectPartition = t.buildSelect(t.dstName, false)
	return t, nil
}

func (t *table) buildSelect(from string, byRange bool) string {
	pk := strings.Join(cql.QuoteAll(t.src.PartitionKeyNames()), ", ")
	cols := []string{"token(" + pk + ")"}
	cols = append(cols, cql.QuoteAll(t.src.KeyNames())...)
	for _, c := range t.cols {
		q := cql.Quote(c.Name)
		cols = append(cols, q, "writetime("+q+")", "ttl("+q+")")
	}
	stmt := "SELECT " + strings.Join(cols, ", ") + " FROM " + from
	if byRange {
		return stmt + " WHERE token(" + pk + ") > ? AND token(" + pk + ") <= ?"
	}
	var where []string
	for _, n := range t.src.PartitionKeyNames() {
		where = append(where, cql.Quote(n)+" = ?")
	}
	return stmt + " WHERE " + strings.Join(where, " AND ")
}

// compareSchemas refuses a destination that cannot take the source's cells byte for byte: same
// partition and clustering keys (names and types, in order), every source column present with a
// compatible type; counters and non-frozen UDTs are refused in either case.
func compareSchemas(src, dst *cql.Table) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrIncompatibleSchema, src, fmt.Sprintf(format, a...))
	}
	keyStr := func(cs []cql.Column) string {
		var parts []string
		for _, c := range cs {
			parts = append(parts, c.Name+" "+c.Type)
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	sameKey := func(a, b []cql.Column) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i].Name != b[i].Name || !cql.Compatible(a[i].Type, b[i].Type) {
				return false
			}
		}
		return true
	}
	if !sameKey(src.PartitionKey, dst.PartitionKey) {
		return bad("partition key differs: source %s, destination %s", keyStr(src.PartitionKey), keyStr(dst.PartitionKey))
	}
	if !sameKey(src.Clustering, dst.Clustering) {
		return bad("clustering key differs: source %s, destination %s", keyStr(src.Clustering), keyStr(dst.Clustering))
	}
	for _, c := range src.Regular {
		switch c.Shape {
		case cql.Counter:
			return bad("column %s is a counter: counters cannot be written with their timestamps; copy counter tables with a counter-aware tool", c.Name)
		case cql.MultiUDT:
			return bad("column %s is a non-frozen user-defined type (%s), which forklift does not copy field by field", c.Name, c.Type)
		}
		d, ok := dst.Column(c.Name)
		if !ok {
			return bad("column %s (%s) is missing in the destination %s", c.Name, c.Type, dst)
		}
		if d.Kind == "partition_key" || d.Kind == "clustering" {
			return bad("column %s is a regular column in the source but a key column in the destination", c.Name)
		}
		if !cql.Compatible(c.Type, d.Type) {
			return bad("column %s has type %s in the source but %s in the destination", c.Name, c.Type, d.Type)
		}
		if (c.Kind == "static") != (d.Kind == "static") {
			return bad("column %s is static on one side only", c.Name)
		}
	}
	return nil
}
