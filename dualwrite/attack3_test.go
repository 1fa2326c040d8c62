package dualwrite

import (
	"context"
	"testing"
	"time"
)

// TestAttack3RefusedWriteReplayedAfterClose
// Interleaving: Dual, PrimaryAuthoritative, FileLog; the secondary is down, so the write's entry
// is kept ahead (held) before the leader answers; the primary refuses the write outright (caller
// told it failed) and the void lives only in memory. Close (an orderly one, not a crash) comes
// before the replayer's next look at the entry; a new session on the same directory replays it
// onto the secondary, which then holds a write the authoritative side refused.
// Promise broken (package doc): "A write the leader refused outright is kept for nobody: an entry
// appended for the follower before the leader answered … is held until then, and withdrawn, never
// replayed, when the leader refuses." (hold.go only excuses a crash between append and answer.)
func TestAttack3RefusedWriteReplayedAfterClose(t *testing.T) {
	dir := t.TempDir()
	log1, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSides{}
	f.set(primarySide, func(context.Context, *writeOp) (bool, error) { return false, errInvalidTable })
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	s := newFakeSession(t, f, WithReplayLog(log1))
	for i := 0; i < downAfter; i++ {
		s.sides[secondarySide].noteFollower(false)
	}
	if err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "refused", 1).Exec(); err == nil {
		t.Fatal("the leader refused the write, Exec returned nil")
	}
	s.Close()
	log1.Close()

	log2, err := OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer log2.Close()
	g := &fakeSides{}
	s2 := newFakeSession(t, g, WithReplayLog(log2), withReplayBackoffMax(10*time.Millisecond))
	defer s2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = s2.WaitReplayed(ctx)
	g.mu.Lock()
	landed := len(g.seen[secondarySide])
	g.mu.Unlock()
	if landed != 0 {
		t.Fatalf("a write the authoritative primary refused (caller told it failed) was replayed onto the secondary by the next session (%d landed)", landed)
	}
}

// TestAttack3LWTFollowerFailureUntracedWhenLeaderAlsoFails
// Interleaving: Dual, PrimaryAuthoritative; INSERT … IF NOT EXISTS; the primary (leader) times out
// (not a refusal: it may have applied) and the secondary (follower) times out too. leaderFailed
// returns at once for an LWT: nothing is recorded as uncertain for either side, so SetPhase
// (DualFlipped) sees nothing against the secondary, which may lack a row the primary now holds.
// Promise broken (package doc, LWTs): "a follower that failed (its outcome unknown) is recorded as
// uncertain, as counters are" — and counters, in this very case, "when the leader fails too, each
// side whose outcome is unknown is recorded". The LWT leaves no trace at all.
func TestAttack3LWTFollowerFailureUntracedWhenLeaderAlsoFails(t *testing.T) {
	f := &fakeSides{}
	f.set(primarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	s := newFakeSession(t, f)
	defer s.Close()
	if _, err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?) IF NOT EXISTS", 1, "x").MapScanCAS(map[string]any{}); err == nil {
		t.Fatal("the leader failed the LWT, MapScanCAS returned nil")
	}
	var sec bool
	for _, u := range s.Uncertain() {
		if u.Side == "secondary" {
			sec = true
		}
	}
	if !sec {
		t.Fatalf("the follower failed an LWT (outcome unknown) while the leader failed too: not recorded as uncertain (Uncertain()=%v)", s.Uncertain())
	}
}

// TestAttack3UncertainLWTDoesNotHoldAuthority
// Interleaving: Dual, PrimaryAuthoritative; an LWT applies on the primary and is acknowledged; the
// secondary times out, so the write is recorded as uncertain for the secondary (never replayed).
// SetPhase(DualFlipped) then succeeds at once: the secondary becomes authoritative while an
// acknowledged write it may lack is still unreconciled.
// Promise broken: settleFollower's own contract ("recorded as uncertain for that side, counted, and
// seen by SetPhase's authority check") and SetPhase's rule that a side does not gain authority while
// acknowledged writes it lacks wait for an operator (dead letters); the uncertain store is not
// consulted by pendingFor at all. (go doc lists backlog and dead letters only: weaker than the
// other two findings, but authority moves over a known-missing acknowledged write.)
func TestAttack3UncertainLWTDoesNotHoldAuthority(t *testing.T) {
	f := &fakeSides{}
	f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, transientErr{} })
	s := newFakeSession(t, f)
	defer s.Close()
	applied, err := s.Query("INSERT INTO kv (k, v) VALUES (?, ?) IF NOT EXISTS", 1, "x").MapScanCAS(map[string]any{})
	if err != nil || !applied {
		t.Fatalf("MapScanCAS = %v, %v", applied, err)
	}
	if len(s.Uncertain()) == 0 {
		t.Fatal("setup: nothing recorded as uncertain")
	}
	if err := s.SetPhase(DualFlipped); err == nil {
		t.Fatalf("SetPhase(DualFlipped) made the secondary authoritative while an acknowledged LWT it may lack is recorded as uncertain for it (%v)", s.Uncertain())
	}
}
