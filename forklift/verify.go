package forklift

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/globalcloud/islands/internal/codec"
	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// VerifyOptions are the knobs of one Verify.
type VerifyOptions struct {
	// Shard limits Verify to this shard's ranges (zero value: every range).
	Shard Shard
	// Progress, when set, is called every ProgressInterval (default 1s) and once at the end.
	Progress func(Progress)
	// ProgressInterval is how often Progress is called.
	ProgressInterval time.Duration
}

// VerifyReport is the result of Verify, ready for json.Marshal.
type VerifyReport struct {
	RunID    string              `json:"run_id"`
	Started  time.Time           `json:"started"`
	Seconds  float64             `json:"seconds"`
	Tables   []TableVerification `json:"tables"`
	Missing  int64               `json:"missing"`
	Mismatch int64               `json:"mismatched"`
	// Clean is true when no table has a missing or mismatched cell, nor a partition a killed run
	// left in flight (TableVerification.InFlight): superseded cells (the destination holds
	// something newer) and quarantined partitions are not differences.
	Clean bool `json:"clean"`
}

// TableVerification is one table's verify result. Counts are of cells (a missing key-only row
// counts one); Ranges lists the subranges holding real differences, which Repair re-copies.
type TableVerification struct {
	Table           string       `json:"table"`
	Resolver        string       `json:"resolver"`
	Subranges       int          `json:"subranges"`
	SubrangesEqual  int          `json:"subranges_equal"` // hashes equal: not compared further
	SourceRows      int64        `json:"source_rows"`
	Missing         int64        `json:"missing"`
	Mismatched      int64        `json:"mismatched"`
	Superseded      int64        `json:"superseded"`
	Shadowed        int64        `json:"shadowed"` // of Superseded: proved shadowed by a repair (see ShadowStore)
	Quarantined     int64        `json:"quarantined"`
	Samples         []Difference `json:"samples,omitempty"`
	DifferingRanges []TokenRange `json:"differing_ranges,omitempty"`
	// InFlight names (key in hex) the partitions a killed run left half-written and no resumed
	// run has repaired yet (see InFlightStore): the table is not clean while any is left.
	InFlight         []string `json:"in_flight,omitempty"`
	samplesPerKind   map[string]int
	mu               *sync.Mutex
	maxSamplesByKind int
	shadowed         map[string]bool // ids a repair proved shadowed
	collect          bool            // keep every missing and mismatched difference in remaining
	remaining        []Difference
}

// Difference is one sampled difference.
type Difference struct {
	Kind        string `json:"kind"` // missing, mismatched, superseded
	Key         string `json:"key"`
	Clustering  string `json:"clustering,omitempty"`
	Column      string `json:"column,omitempty"`
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination,omitempty"`
	Note        string `json:"note,omitempty"`

	// keyOnly marks a missing row that exists by its row marker alone: CQL cannot read a marker's
	// writetime, so nothing names the source's version of it and it is never recorded as shadowed
	// (a record would also match the row re-inserted later; see Difference.id).
	keyOnly bool
	// excess marks a difference where the destination holds too much: a deletion still to do (a
	// row, cell, collection or element the source lacks). Only a source cell hidden by a newer
	// destination deletion can be shadowed; an excess is never recorded (see Difference.id) and
	// stays a difference, reported and repaired again, until the destination no longer holds it.
	excess bool
}

// Verify compares every configured table on both sides, range by range, under its resolver's
// invariant. Each range is cut into VerifySubranges subranges whose two sides are hashed first; only
// where the hashes differ are partitions compared one by one. lww: every source cell is in the
// destination with the same writetime and value, or beaten by a newer cell (superseded). Other
// resolvers: resolving the source against the destination again must write nothing. The error wraps
// ErrDifferences when the report is not Clean.
func (j *Job) Verify(ctx context.Context, opts VerifyOptions) (*VerifyReport, error) {
	return j.verify(ctx, opts.Shard.orOnly(), progressOptions{opts.Progress, opts.ProgressInterval}, nil, false)
}

// verify verifies the Job's tables; only, when set, limits each table to those ranges; collect
// keeps every remaining difference (for Repair's shadow records).
func (j *Job) verify(ctx context.Context, shard Shard, progress progressOptions, only map[string][]TokenRange, collect bool) (*VerifyReport, error) {
	cfg, log, m, tables := &j.cfg, j.log, j.m, j.tables
	rep := &VerifyReport{RunID: cfg.RunID, Started: time.Now().UTC()}
	type job struct {
		t  *table
		tv *TableVerification
		r  TokenRange
		rs *rangeState // its share of the progress: covered once it is verified
	}
	var jobs []job
	key, err := newSubrangeKey() // this run's subrange hash key: see subrangeKey
	if err != nil {
		return rep, err
	}
	inflight, err := j.inFlightOf(ctx)
	if err != nil {
		return rep, err
	}
	rep.Tables = make([]TableVerification, len(tables))
	for i, t := range tables {
		rep.Tables[i] = TableVerification{Table: t.Name(), Resolver: t.cfg.Resolver, samplesPerKind: map[string]int{},
			maxSamplesByKind: cfg.VerifySamples, mu: &sync.Mutex{}}
		tvp := &rep.Tables[i]
		tvp.collect = collect
		tvp.InFlight = inflight[t.Name()]
		if ss := j.shadows(); ss != nil {
			ids, err := ss.LoadShadowed(ctx, cfg.RunID, t.Name())
			if err != nil {
				log.Warn("verify: shadow records unreadable, every difference counts", "table", t.Name(), "err", err)
			}
			tvp.shadowed = ids
		}
		var subs []TokenRange
		if rs, ok := only[t.Name()]; only != nil {
			if !ok {
				continue
			}
			subs = rs
		} else {
			for i, r := range FullRing.Split(cfg.Ranges) {
				if shard.Owns(i) {
					subs = append(subs, r.Split(cfg.VerifySubranges)...)
				}
			}
		}
		for _, r := range subs {
			jobs = append(jobs, job{t, tvp, r, &rangeState{weight: ringShare(r)}})
		}
	}
	tr := newTracker("verify", len(jobs))
	for _, jb := range jobs {
		tr.advance(jb.rs, jb.r, jb.r.Start)
	}
	stop := progress.start(tr)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Workers)
	for _, jb := range jobs {
		g.Go(func() error {
			err := retry(gctx, cfg.Retries, func(error) { m.retries.WithLabelValues("verify").Inc() }, func() error {
				return j.verifySubrange(gctx, jb.t, jb.tv, jb.r, tr, key)
			})
			if err != nil {
				return fmt.Errorf("forklift: verify %s %s: %w", jb.t.Name(), jb.r, err)
			}
			tr.advance(jb.rs, jb.r, jb.r.End)
			tr.done.Add(1)
			return nil
		})
	}
	err = g.Wait()
	stop()
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.Clean = true
	for i := range rep.Tables {
		tv := &rep.Tables[i]
		rep.Missing += tv.Missing
		rep.Mismatch += tv.Mismatched
		for kind, n := range map[string]int64{"missing": tv.Missing, "mismatched": tv.Mismatched, "superseded": tv.Superseded} {
			m.differences.WithLabelValues(tv.Table, kind).Add(float64(n))
		}
		log.Info("verify", "table", tv.Table, "source_rows", tv.SourceRows, "missing", tv.Missing,
			"mismatched", tv.Mismatched, "superseded", tv.Superseded, "quarantined", tv.Quarantined,
			"subranges_equal", tv.SubrangesEqual, "subranges", tv.Subranges)
	}
	inFlight := 0
	for i := range rep.Tables {
		inFlight += len(rep.Tables[i].InFlight)
	}
	rep.Clean = rep.Missing == 0 && rep.Mismatch == 0 && inFlight == 0
	if err != nil {
		if ctx.Err() != nil {
			return rep, fmt.Errorf("%w: %v", ErrInterrupted, err)
		}
		return rep, err
	}
	if !rep.Clean {
		return rep, fmt.Errorf("%w: %d missing, %d mismatched cells, %d partitions left half-written by a killed run (in flight: resume the run)",
			ErrDifferences, rep.Missing, rep.Mismatch, inFlight)
	}
	return rep, nil
}

// verifySubrange hashes both sides of r under the run's key and, where they differ, compares
// partition by partition. Equal hashes end the subrange only under a resolver for which identical
// sides mean nothing to write (hashShortcut); under any other the hashes could not end it, so they
// are not computed and every subrange is compared by resolving.
func (j *Job) verifySubrange(ctx context.Context, t *table, tv *TableVerification, r TokenRange, tr *tracker, key *subrangeKey) error {
	cfg := &j.cfg
	if t.hashShortcut() {
		var sh, dh subrangeSum
		var srcRows int64
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() (err error) {
			sh, srcRows, err = hashRange(gctx, j.src, t, t.selectRange, r, cfg.PageSize, key)
			return
		})
		g.Go(func() (err error) {
			dh, _, err = hashRange(gctx, j.dst, t, t.selectDstRange, r, cfg.PageSize, key)
			return
		})
		if err := g.Wait(); err != nil {
			return err
		}
		tr.rows.Add(srcRows)
		if subrangeEqual(t, sh, dh) {
			tv.mu.Lock()
			tv.Subranges++
			tv.SubrangesEqual++
			tv.SourceRows += srcRows
			tv.mu.Unlock()
			return nil
		}
	}
	c := counts{shadowed: tv.shadowed, collect: tv.collect}
	src := openStream(ctx, j.src, t, t.selectRange, r, cfg.PageSize)
	dst := openStream(ctx, j.dst, t, t.selectDstRange, r, cfg.PageSize)
	cerr := compareSides(t, src, dst, &c)
	serr, derr := src.close(), dst.close()
	for _, err := range []error{cerr, serr, derr} {
		if err != nil {
			return err
		}
	}
	tv.mu.Lock()
	defer tv.mu.Unlock()
	tv.Subranges++
	tv.SourceRows += c.rows
	tv.Missing += c.missing
	tv.Mismatched += c.mismatched
	tv.Superseded += c.superseded
	tv.Shadowed += c.nshadowed
	tv.remaining = append(tv.remaining, c.found...)
	tv.Quarantined += c.quarantined
	if c.missing+c.mismatched > 0 {
		tv.DifferingRanges = append(tv.DifferingRanges, r)
	}
	for _, d := range c.samples {
		if tv.samplesPerKind[d.Kind] < tv.maxSamplesByKind {
			tv.samplesPerKind[d.Kind]++
			tv.Samples = append(tv.Samples, d)
		}
	}
	return nil
}

// hashShortcut reports whether equal subrange hashes may count a subrange equal without comparing
// it: only when t's resolver declares that two identical sides resolve to no write
// (merge.WritesNothingOnEqualSides: lww, union, prefer-*, newest-by). Identical sides are not
// "nothing to write" for a resolver that changes equal inputs (a history's cap, a scrub, a custom
// Decide override): verify's promise, clean only when resolving the source against the
// destination writes nothing, then needs the resolver asked for every partition.
func (t *table) hashShortcut() bool { return merge.WritesNothingOnEqualSides(t.resolver) }

// subrangeEqual is verify's shortcut: a subrange whose two sides hash alike is counted equal, and
// not compared, only under a resolver for which that means nothing to write (hashShortcut).
func subrangeEqual(t *table, sh, dh subrangeSum) bool { return t.hashShortcut() && sh == dh }

// partSource yields partitions in token order (a partitionStream); nil at the end. at is the Unix
// second the partition next last returned was read at: its remaining TTLs are stated as of then.
type partSource interface {
	next() (*merge.Partition, int64)
	at() int64
}

// compareSides walks both sides of one subrange in Cassandra's order (comparePartitions: token,
// then the stored key's bytes) and compares every source partition with the destination's
// (absent: every cell missing); destination-only partitions are allowed.
//
// Invariant: two partitions are compared as of one instant. A remaining TTL means an expiry only
// with the second it was read at, and the two streams read a partition at different seconds (each
// side pages through its own rows: a destination holding other islands' partitions, or a source
// ahead of a partly copied destination, reaches the same key pages later), so a raw TTL compare
// would see that lag as a different expiry: a false mismatch (which repair cannot fix, and its
// second verify records as shadowed) or, the other way round, a real earlier expiry hidden by it.
// alignReads states both sides as of the later read, as the subrange hash (expiry instants) and
// the copy path (ageTTLs to the write's second) do; merge.ExpiryTolerance then only covers the
// truncation of each TTL to whole seconds, not the lag between the reads.
func compareSides(t *table, src, dst partSource, c *counts) error {
	sp, stok := src.next()
	dp, dtok := dst.next()
	for sp != nil {
		n := int64(len(sp.Rows)) // as read (the hash path's count), before alignReads
		switch {
		case dp != nil && comparePartitions(dtok, dp.Key, stok, sp.Key) < 0:
			dp, dtok = dst.next() // only in the destination: allowed
			continue
		case dp != nil && comparePartitions(dtok, dp.Key, stok, sp.Key) == 0:
			alignReads(sp, src.at(), dp, dst.at())
			if err := comparePartition(t, sp, dp, c); err != nil {
				return err
			}
			dp, dtok = dst.next()
		default:
			if err := comparePartition(t, sp, nil, c); err != nil {
				return err
			}
		}
		c.rows += n
		sp, stok = src.next()
	}
	return nil
}

// alignReads states the TTLs of two versions of one partition, sp read at the Unix second sAt and
// dp at dAt, as of the later of the two: the earlier read is aged by the lag (ageTTLs), dropping
// what expired in between, as the later read would not have returned it.
//
// Then a cell about to expire (less than ExpiryTolerance left) is judged on neither side: a copy
// expires up to a second or two before its source (ageing by whole seconds from the page's read,
// writePartition), so such a cell may already be gone from the destination and not from the
// source, and neither version can be told wrong.
func alignReads(sp *merge.Partition, sAt int64, dp *merge.Partition, dAt int64) {
	switch {
	case sAt < dAt:
		ageTTLs(sp, int32(min(dAt-sAt, 1<<30)))
	case dAt < sAt:
		ageTTLs(dp, int32(min(sAt-dAt, 1<<30)))
	}
	lasting := func(c *merge.Cell) bool {
		return c.Deleted || c.TTL <= 0 || c.TTL >= int32(merge.ExpiryTolerance/time.Second)
	}
	keepCells(sp, lasting)
	keepCells(dp, lasting)
}

// counts are one subrange's findings.
type counts struct {
	rows, missing, mismatched, superseded, quarantined int64
	samples                                            []Difference
	nshadowed                                          int64
	shadowed                                           map[string]bool // ids proved shadowed
	collect                                            bool
	found                                              []Difference // every missing/mismatched, when collect
}

const maxSubrangeSamples = 20

func (c *counts) add(kind string, d Difference) {
	if id := d.id(); (kind == "missing" || kind == "mismatched") && id != "" && c.shadowed[id] {
		kind, d.Note = "shadowed", shadowNote
		c.nshadowed++
	}
	if c.collect && (kind == "missing" || kind == "mismatched") {
		d.Kind = kind
		c.found = append(c.found, d)
	}
	switch kind {
	case "missing":
		c.missing++
	case "mismatched":
		c.mismatched++
	case "superseded", "shadowed":
		c.superseded++
	}
	if len(c.samples) < maxSubrangeSamples {
		d.Kind = kind
		c.samples = append(c.samples, d)
	}
}

func (t *table) formatKey(key [][]byte, cols []cql.Column) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = codec.Format(cols[i].Type, k)
	}
	return strings.Join(parts, ", ")
}

// rowLabel names a row in a Difference: its clustering key, or "static" for the static row.
func (t *table) rowLabel(r *merge.Row) string {
	if r.Static {
		return "static"
	}
	return t.formatKey(r.Clustering, t.src.Clustering)
}

// comparePartition checks one source partition against the destination's (nil: absent).
func comparePartition(t *table, src, dst *merge.Partition, c *counts) error {
	key := t.formatKey(src.Key, t.src.PartitionKey)
	if !t.blind && dst != nil {
		res, err := t.resolver.Resolve(src, dst)
		if err != nil {
			return resolveError(t, src, dst, err)
		}
		if res.Quarantine != nil {
			c.quarantined++
			return nil
		}
		if res.Write == nil || len(res.Write.Rows) == 0 {
			return nil
		}
		// The resolver would still write something: those cells are not as they must be.
		for _, r := range res.Write.Rows {
			d := Difference{Key: key, Clustering: t.rowLabel(&r)}
			if r.Deleted {
				d.Source, d.excess = "row deleted", true
			}
			if findRow(dst, r.Clustering) == nil && !r.Deleted {
				d.Source, d.keyOnly = t.rowSummary(&r), keyOnlyRow(&r)
				c.add("missing", d)
				continue
			}
			n := 0
			for _, col := range r.Columns {
				if col.Present {
					d.Column = col.Name
					d.Source = describeColumn(&col)
					d.excess = r.Deleted || deletes(&col)
					c.add("mismatched", d)
					n++
				}
			}
			if n == 0 && r.Deleted { // a key-only row the resolver would delete
				c.add("mismatched", d)
			}
		}
		return nil
	}
	for ri := range src.Rows {
		sr := &src.Rows[ri]
		d := Difference{Key: key, Clustering: t.rowLabel(sr)}
		var dr *merge.Row
		if dst != nil {
			dr = findRow(dst, sr.Clustering)
		}
		if dr == nil {
			d.Source, d.keyOnly = t.rowSummary(sr), keyOnlyRow(sr)
			c.add("missing", d)
			continue
		}
		for ci := range sr.Columns {
			sc := &sr.Columns[ci]
			if !sc.Present {
				continue
			}
			dc := findColumn(dr, sc.Name, ci)
			d.Column = sc.Name
			typ := t.colType(sc.Name, ci)
			compareColumn(sc, dc, typ, d, c)
		}
	}
	return nil
}

// compareColumn applies lww's invariant to one column: each source cell is in the destination, or
// beaten there by Cassandra's rule (cellVerdict).
func compareColumn(sc, dc *merge.Column, typ string, d Difference, c *counts) {
	cell := func(kind string, s merge.Cell, dcell *merge.Cell) {
		d.Source = fmt.Sprintf("%s @%d", codec.Format(typ, s.Value), s.WriteTime)
		if dcell == nil {
			c.add(kind, d)
			return
		}
		d.Destination = fmt.Sprintf("%s @%d", codec.Format(typ, dcell.Value), dcell.WriteTime)
		c.add(kind, d)
	}
	// elem reports one element cell of a set or map: its Source names the element itself (a set's
	// element, a map's key and value) and its writetime, so a shadow record of it never covers
	// another element (Difference.id).
	elem := func(kind string, e merge.Elem, de *merge.Elem) {
		d.Source = describeElem(typ, sc.Kind, e)
		d.Destination = ""
		if de != nil {
			d.Destination = describeElem(typ, sc.Kind, *de)
		}
		c.add(kind, d)
	}
	absent := dc == nil || !dc.Present
	switch {
	case absent && sc.Kind == merge.Simple:
		cell("missing", sc.Cell, nil)
	case absent && sc.Kind == merge.List:
		// The whole list, as forklift writes it: its values at its newest element's writetime.
		cell("missing", listCell(sc), nil)
	case absent:
		// A set or map the destination does not hold at all is an empty one: every element of the
		// source is missing, each named by its own cell (never the column's zero Cell, whose id
		// would match whatever the column later holds).
		for _, e := range sc.Elems {
			elem("missing", e, nil)
		}
	case sc.Kind == merge.Simple:
		if k := cellVerdict(sc.Cell, dc.Cell); k != "" {
			cell(k, sc.Cell, &dc.Cell)
		}
	case sc.Kind == merge.List:
		// merge's whole-list rule (merge.CompareLists): element paths are local to each cluster.
		switch merge.CompareLists(sc.Elems, dc.Elems) {
		case 1:
			s, dd := listCell(sc), listCell(dc)
			cell("mismatched", s, &dd)
		case -1:
			s, dd := listCell(sc), listCell(dc)
			cell("superseded", s, &dd)
		}
	default:
		for _, e := range sc.Elems {
			var de *merge.Elem
			for i := range dc.Elems {
				if bytes.Equal(dc.Elems[i].Key, e.Key) {
					de = &dc.Elems[i]
					break
				}
			}
			if de == nil {
				elem("missing", e, nil)
				continue
			}
			if k := cellVerdict(e.Cell, de.Cell); k != "" {
				elem(k, e, de)
			}
		}
	}
}

// cellVerdict is "" when dst holds src (merge.SameVersion: expiries within merge.ExpiryTolerance),
// "superseded" when dst is what Cassandra keeps of the two (merge.Reconcile, the one tie rule of the
// project: writetime, then tombstone, then expiring, then later expiry, then greater value), and
// "mismatched" when src would win: a repair writing src changes the outcome.
func cellVerdict(src, dst merge.Cell) string {
	if merge.SameVersion(src, dst) {
		return ""
	}
	if merge.SameVersion(merge.Reconcile(src, dst), src) {
		return "mismatched"
	}
	return "superseded"
}

// describeElem names one element cell of a column of type typ exactly: a set's element, a map's
// key and value (any other multi-cell column: its cell path and value), and its writetime.
func describeElem(typ string, kind merge.Kind, e merge.Elem) string {
	key, val := elemTypes(typ)
	switch kind {
	case merge.Set:
		return fmt.Sprintf("%s @%d", codec.Format(key, e.Key), e.Cell.WriteTime)
	case merge.Map:
		return fmt.Sprintf("%s=%s @%d", codec.Format(key, e.Key), codec.Format(val, e.Cell.Value), e.Cell.WriteTime)
	}
	return fmt.Sprintf("%s=%s @%d", codec.Format("", e.Key), codec.Format(val, e.Cell.Value), e.Cell.WriteTime)
}

// elemTypes returns the element types of a collection type: set<K> and list<V> give one, map<K, V>
// both ("" where unknown: Format then renders hex).
func elemTypes(typ string) (key, val string) {
	t := strings.ReplaceAll(strings.TrimSpace(typ), " ", "")
	open := strings.IndexByte(t, '<')
	if open < 0 || !strings.HasSuffix(t, ">") {
		return "", ""
	}
	args := t[open+1 : len(t)-1]
	switch t[:open] {
	case "set":
		return args, ""
	case "list":
		return "", args
	case "map":
		depth := 0
		for i, r := range args {
			switch r {
			case '<':
				depth++
			case '>':
				depth--
			case ',':
				if depth == 0 {
					return args[:i], args[i+1:]
				}
			}
		}
	}
	return "", ""
}

// listCell sums a list up as one cell: its serialised value at its newest element's writetime,
// which is how forklift writes lists.
func listCell(c *merge.Column) merge.Cell {
	vals := make([][]byte, len(c.Elems))
	var wt int64
	for i, e := range c.Elems {
		vals[i] = e.Cell.Value
		wt = max(wt, e.Cell.WriteTime)
	}
	return merge.Cell{Value: codec.JoinCollection(vals), WriteTime: wt}
}

// deletes reports whether a column of a resolver's Write deletes anything: a deleted cell, a
// whole-collection deletion, a deleted element. Such a write means the destination holds what the
// source lacks (Difference.excess).
func deletes(c *merge.Column) bool {
	if c.Cell.Deleted || c.Kind == merge.Simple && c.Cell.Value == nil {
		return true
	}
	for _, e := range c.Elems {
		if e.Cell.Deleted {
			return true
		}
	}
	return false
}

// describeColumn names the version of a column a resolver would write, for a Difference.
func describeColumn(c *merge.Column) string {
	if c.Kind == merge.Simple {
		return fmt.Sprintf("%x @%d deleted=%v", c.Cell.Value, c.Cell.WriteTime, c.Cell.Deleted)
	}
	var b strings.Builder
	for _, e := range c.Elems {
		fmt.Fprintf(&b, "%x=%x @%d;", e.Key, e.Cell.Value, e.Cell.WriteTime)
	}
	return b.String()
}

func findRow(p *merge.Partition, ck [][]byte) *merge.Row {
	for i := range p.Rows {
		if merge.SameKey(p.Rows[i].Clustering, ck) {
			return &p.Rows[i]
		}
	}
	return nil
}

func findColumn(r *merge.Row, name string, hint int) *merge.Column {
	if hint < len(r.Columns) && r.Columns[hint].Name == name {
		return &r.Columns[hint]
	}
	for i := range r.Columns {
		if r.Columns[i].Name == name {
			return &r.Columns[i]
		}
	}
	return nil
}
