package dualwrite

import (
	"context"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/handoff"
)

// A write the leader refused is withdrawn (durably, DIR/withdrawn) and is never replayed anywhere,
// so the hand-off never shares it either: not at Close, not from a later session on the same
// directory that finds the withdrawal on disk only. (Found merging the hand-off with the durable
// withdrawals: the copier consulted the in-memory holds only.)
func TestHandoffNeverSharesAWithdrawnEntry(t *testing.T) {
	for _, reopen := range []bool{false, true} {
		st := handoff.NewMemStore()
		dir := t.TempDir()
		f := &fakeSides{}
		f.set(primarySide, func(context.Context, *writeOp) (bool, error) { return false, errInvalidTable })
		f.set(secondarySide, downSide)
		open := func(hopts ...HandoffOption) *Session {
			hopts = append([]HandoffOption{handoffStore(st), HandoffInstance("a"), HandoffLease(5 * time.Second)}, hopts...)
			s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
				[]Option{withExecHook(f.exec), WithReplayDir(dir), WithPhase(Dual), WithFollowerBudget(20 * time.Millisecond),
					WithName("orders"), WithHandoff(hopts...)})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		s := open(HandoffCopyAfter(time.Hour), HandoffDrain(50*time.Millisecond, 5*time.Second))
		for i := 0; i < downAfter; i++ {
			s.sides[secondarySide].noteFollower(false)
		}
		if err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "refused", 1).Exec(); err == nil {
			t.Fatal("the leader refused the write, Exec returned nil")
		}
		if fl, ok := s.log.(*FileLog); !ok || fl.Withdrawn() != 1 {
			t.Fatalf("the refused write's entry was not kept ahead and withdrawn (the test's premise)")
		}
		if reopen {
			// An abrupt stop: the loops end, nothing is handed off; the withdrawal is on disk only.
			close(s.ho.stop)
			s.ho.wg.Wait()
			s.log.Close()
			// What a crash would have stopped too: the first session's background work, which
			// otherwise goes on writing in dir while t.TempDir removes it (seen failing under load).
			s.bgCancel()
			s.bgWG.Wait()
			s = open(HandoffCopyAfter(time.Hour), HandoffDrain(50*time.Millisecond, 5*time.Second))
		}
		s.Close()
		bl, _ := handoff.Backlog(context.Background(), st, "orders")
		if bl["secondary"] != 0 {
			t.Errorf("reopen=%v: a write the leader refused (withdrawn) was handed off for the secondary: shared backlog %v", reopen, bl)
		}
	}
}
