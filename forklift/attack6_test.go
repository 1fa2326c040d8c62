package forklift

import (
	"bytes"
	"encoding/binary"

	"testing"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/merge"
)

// attack6Scrub is a custom resolver as merge.Register admits one: every source row stands
// (KeepSource) with column v cleared (a null override: a scrub of a column), and the destination's
// other rows stay.
type attack6Scrub struct{}

func (attack6Scrub) Name() string           { return "attack6-scrub-v" }
func (attack6Scrub) NeedsDestination() bool { return true }
func (attack6Scrub) Resolve(src, dst *merge.Partition) (merge.Resolution, error) {
	var dstRows []merge.Row
	if dst != nil {
		dstRows = dst.Rows
	}
	srcTo, _ := merge.MatchRows(src.Rows, dstRows)
	ds := make([]merge.RowDecision, len(src.Rows))
	for i := range src.Rows {
		ds[i] = merge.RowDecision{Source: &src.Rows[i], Keep: merge.KeepSource, Column: "v", Value: merge.Cell{}}
		if srcTo[i] >= 0 {
			ds[i].Destination = &dstRows[srcTo[i]]
		}
	}
	return merge.Decide(src, dst, ds), nil
}

func init() {
	merge.Register("attack6-scrub-v", func(map[string]any) (merge.Resolver, error) { return attack6Scrub{}, nil })
}

// TestAttack6DecideKeyOnlySourceRowNeverCopiedYetVerifyClean
// Scenario: a custom resolver keeps every source row (KeepSource) with v overridden by a null. The
// source's row ck=1 is key-only (INSERT (pk, ck)); the destination's partition holds another row
// (ck=9). The copy writes nothing for ck=1 (merge.Decide drops the row when the null override of a
// column absent on both sides writes no cell), and verify, resolving again, finds nothing to write:
// Clean, while the destination lacks a row the source holds and the resolver decided stands.
// Promise broken: Verify "Other resolvers: resolving the source against the destination again must
// write nothing" is only a proof when the resolution brings the destination to the decision;
// merge.Decide: KeepSource "the source's version of the row stands", and Run copies it.
func TestAttack6DecideKeyOnlySourceRowNeverCopiedYetVerifyClean(t *testing.T) {
	tb := testTable(t, "attack6-scrub-v", nil, modelCols...)
	src, dst := newModelDB(), newModelDB()
	pk := cql.Raw(be32(1))
	run := func(db *modelDB, text string, args ...any) { db.apply(t, stmt{text: text, args: args}) }
	run(src, `INSERT INTO "ks"."t" ("pk", "ck") VALUES (?, ?) USING TIMESTAMP ? AND TTL ?`, pk, cql.Raw(be32(1)), int64(5), 0)
	run(dst, `INSERT INTO "ks"."t" ("pk", "ck", "w") VALUES (?, ?, ?) USING TIMESTAMP ? AND TTL ?`, pk, cql.Raw(be32(9)), cql.Raw([]byte{0, 0, 0, 0, 0, 0, 0, 7}), int64(3), 0)
	copyModel(t, tb, src, dst)
	held := false
	for _, r := range dst.read(t, tb, string(be32(1))).Rows {
		if merge.SameKey(r.Clustering, [][]byte{be32(1)}) {
			held = true
		}
	}
	clean, c := verifyModel(t, tb, src, dst)
	if !held {
		t.Fatalf("the source's key-only row ck=1, kept by the resolver (KeepSource), is not in the destination after "+
			"the copy; verify clean=%v (counts %+v)", clean, c)
	}
}

// timedSource is a partSource whose partitions carry the Unix second they were read at, as
// partitionStream's do (partitionStream.at: the second the partition's page was requested, to
// which its TTLs are stated).
type timedSource struct {
	parts  []*merge.Partition
	readAt []int64
	i      int
	last   int64
}

func (s *timedSource) next() (*merge.Partition, int64) {
	if s.i >= len(s.parts) {
		return nil, 0
	}
	p := s.parts[s.i]
	s.last = s.readAt[s.i]
	s.i++
	return p, int64(binary.BigEndian.Uint32(p.Key[0]))
}

func (s *timedSource) at() int64 { return s.last }

// TestAttack6VerifyComparesTTLsReadAtDifferentInstants
// Scenario: lww; the destination holds the source's cell exactly (same value, writetime, expiry
// instant 1100). Verify's compare walks both sides' streams in lockstep, but a stream's page is
// dated by when it was requested: the destination's page holding the partition was fetched 10 s
// after the source's (the destination holds destination-only partitions of the subrange — other
// islands' data, the very case of a global destination — so it pages through more rows first), so
// the source reads TTL 100 at second 1000 and the destination TTL 90 at second 1010.
// Promise broken: merge.ExpiryTolerance / cellVerdict: "no verify reports a difference for a TTL
// difference inside it" — the hash path dates each side's TTLs by its read instant (hashPartition
// with st.readAt) and finds the same expiry; compareSides compares the raw remaining TTLs, calls the
// source's later-looking expiry the winner and reports a mismatch of a cell the destination holds
// exactly. Repair then rewrites nothing useful, and its second verify, lagging alike, records the
// cell as "shadowed" by a deletion that does not exist (and, the other way round, a destination
// read earlier than the source hides an expiry that really is earlier by the lag).
func TestAttack6VerifyComparesTTLsReadAtDifferentInstants(t *testing.T) {
	tb := testTable(t, "lww", nil)
	cell := func(ttl int32) *merge.Partition {
		return &merge.Partition{Key: [][]byte{be32(1)}, Rows: []merge.Row{{Clustering: [][]byte{be32(1)},
			Columns: []merge.Column{{Name: "v", Kind: merge.Simple, Present: true,
				Cell: merge.Cell{Value: []byte("a"), WriteTime: 10, TTL: ttl}}}}}}
	}
	src := &timedSource{parts: []*merge.Partition{cell(100)}, readAt: []int64{1000}} // expires at 1100
	dst := &timedSource{parts: []*merge.Partition{cell(90)}, readAt: []int64{1010}}  // expires at 1100
	var sh, dh recorder
	hashPartition(&sh, cell(100), 1000)
	hashPartition(&dh, cell(90), 1010)
	if !bytes.Equal(sh.Bytes(), dh.Bytes()) {
		t.Fatalf("control: the hash path should see the same expiry")
	}
	var c counts
	if err := compareSides(tb, src, dst, &c); err != nil {
		t.Fatal(err)
	}
	if c.missing+c.mismatched != 0 {
		t.Fatalf("the destination holds the source's cell with the same expiry instant (1000+100 = 1010+90), "+
			"yet compare reports missing=%d mismatched=%d: %+v", c.missing, c.mismatched, c.samples)
	}
}

// TestAttack6VerifyCleanOverEarlierExpiryReadEarlier
// Scenario: lww; the destination's copy of a cell expires 10 s before the source's (1100 against
// 1110: e.g. a copy aged by a wait it should not have been). The hash path dates TTLs and sees
// different expiries, so the subrange is compared; there the destination's partition was read 10 s
// before the source's (the source pages through source-only partitions first: a partly copied
// range), so both read TTL 100, and compare calls the cell held: verify Clean.
// Promise broken: cellVerdict / merge.Reconcile ("the later expiry wins"): the source's cell,
// expiring 10 s later, beats the destination's, so the destination does not hold it ("mismatched");
// merge.ExpiryTolerance admits 3 s, not the lag between two reads.
func TestAttack6VerifyCleanOverEarlierExpiryReadEarlier(t *testing.T) {
	tb := testTable(t, "lww", nil)
	cell := func(ttl int32) *merge.Partition {
		return &merge.Partition{Key: [][]byte{be32(1)}, Rows: []merge.Row{{Clustering: [][]byte{be32(1)},
			Columns: []merge.Column{{Name: "v", Kind: merge.Simple, Present: true,
				Cell: merge.Cell{Value: []byte("a"), WriteTime: 10, TTL: ttl}}}}}}
	}
	src := &timedSource{parts: []*merge.Partition{cell(100)}, readAt: []int64{1010}} // expires at 1110
	dst := &timedSource{parts: []*merge.Partition{cell(100)}, readAt: []int64{1000}} // expires at 1100
	var sh, dh recorder
	hashPartition(&sh, cell(100), 1010)
	hashPartition(&dh, cell(100), 1000)
	if bytes.Equal(sh.Bytes(), dh.Bytes()) {
		t.Fatalf("control: the hash path should see different expiries")
	}
	var c counts
	if err := compareSides(tb, src, dst, &c); err != nil {
		t.Fatal(err)
	}
	if c.mismatched == 0 {
		t.Fatalf("the destination's cell expires at 1100, the source's at 1110 (beyond merge.ExpiryTolerance), "+
			"yet compare finds no difference (counts %+v): verify is clean", c)
	}
}
