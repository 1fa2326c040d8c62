package integration

import (
	"errors"
	"testing"

	"github.com/globalcloud/islands/dualwrite"
)

// TestDualwriteWholeListWriteRefusedOnNonFrozenList: against the real schema (system_schema's
// "list<text>" and "frozen<list<text>>"), a whole-list write of a non-frozen list is refused in
// the Dual phase (Cassandra's Lists.Setter writes fresh cell paths per application, so a replay
// duplicates elements), and the frozen list, the set and the scalar are written.
func TestDualwriteWholeListWriteRefusedOnNonFrozenList(t *testing.T) {
	e := needServices(t)
	t.Parallel() // faults nothing
	const ks = "dualwrite_lists"
	dwKeyspaces(t, e, ks)
	for _, addr := range []string{e.USCQL, e.EUCQL} {
		ddl(t, session(t, addr), "CREATE TABLE "+ks+".tagged (k int PRIMARY KEY, tags list<text>, ftags frozen<list<text>>, s set<text>, v text)")
	}
	primary, secondary := dwSession(t, e.USCQL, ks), dwSession(t, e.EUCQL, ks)
	dw, err := dualwrite.New(primary, secondary, dualwrite.WithPhase(dualwrite.Dual), dualwrite.WithReplayDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer dw.Close()
	for _, stmt := range []string{
		"UPDATE tagged SET tags = ? WHERE k = ?",
		"INSERT INTO tagged (tags, k) VALUES (?, ?)",
		"UPDATE " + ks + ".tagged SET tags = ? WHERE k = ?",
	} {
		if err := dw.Query(stmt, []string{"a", "b"}, 1).Exec(); !errors.Is(err, dualwrite.ErrNotIdempotent) {
			t.Errorf("%q: %v, want ErrNotIdempotent", stmt, err)
		}
	}
	for _, stmt := range []string{
		"UPDATE tagged SET ftags = ? WHERE k = ?",
		"UPDATE tagged SET s = ? WHERE k = ?",
		"INSERT INTO " + ks + ".tagged (ftags, k) VALUES (?, ?)",
	} {
		if err := dw.Query(stmt, []string{"a", "b"}, 1).Exec(); err != nil {
			t.Errorf("%q: %v, want written", stmt, err)
		}
	}
	if err := dw.Query("UPDATE tagged SET v = ?, tags = null WHERE k = ?", "x", 1).Exec(); err != nil {
		t.Errorf("SET tags = null: %v, want written (a tombstone)", err)
	}
}
