package dualwrite

import (
	"context"
	"testing"
)

// An undecodable entry the hand-off dead-lettered before the replayer read it (deadLetterUnread)
// is passed by Pending without a second dead letter, and one the replayer dead-lettered first is
// not dead-lettered again by the hand-off: one dead letter either way (H1).
func TestHandoffUndecodableEntryDeadLetteredOnce(t *testing.T) {
	for _, handoffFirst := range []bool{true, false} {
		fl, err := OpenFileLog(t.TempDir(), 0)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := fl.Append(ctx, &Entry{Side: "secondary", Timestamp: 1, Stmts: []Stmt{{Stmt: "INSERT INTO kv (k) VALUES (?)", Values: []any{1}}}}); err != nil {
			t.Fatal(err)
		}
		raw := append([]byte{entryMagic, entryVersion + 1}, "newer"...)
		bad, err := fl.log.Append(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		if handoffFirst {
			if err := fl.deadLetterUnread(bad, raw, "test"); err != nil {
				t.Fatal(err)
			}
		}
		recs, err := fl.Pending(10)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || !recs[1].SetAside {
			t.Fatalf("Pending = %+v, want the good entry then the undecodable one set aside", recs)
		}
		if err := fl.deadLetterUnread(bad, raw, "test"); err != nil {
			t.Fatal(err)
		}
		dl, err := fl.DeadLetters()
		if err != nil {
			t.Fatal(err)
		}
		if len(dl) != 1 {
			t.Fatalf("handoffFirst=%v: %d dead letters, want 1", handoffFirst, len(dl))
		}
		fl.Close()
	}
}
