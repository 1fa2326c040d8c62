package dualwrite

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestHeldEntryWithdrawnWhenLeaderRefuses: with the follower down, its entry is appended before
// the leader answers (keepAhead). While the leader is still deciding, the replayer must not land
// that entry; once the leader refuses the write outright, the entry is withdrawn and never lands.
// A leader that fails without refusing (a timeout: it may have applied) releases the entry, which
// lands as usual.
func TestHeldEntryWithdrawnWhenLeaderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		leader   error
		wantLand bool
	}{
		{"refused", errInvalidTable, false},
		{"timeout", transientErr{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeSides{}
			f.set(primarySide, func(context.Context, *writeOp) (bool, error) {
				time.Sleep(150 * time.Millisecond) // the replayer has the ahead entry meanwhile
				return false, tc.leader
			})
			var mu sync.Mutex
			calls := 0
			f.set(secondarySide, func(context.Context, *writeOp) (bool, error) {
				mu.Lock()
				calls++
				n := calls
				mu.Unlock()
				if n == 1 {
					return false, transientErr{} // the original follower request
				}
				return true, nil // replays land
			})
			s := newFakeSession(t, f, withReplayBackoffMax(10*time.Millisecond))
			defer s.Close()
			for i := 0; i < downAfter; i++ {
				s.sides[secondarySide].noteFollower(false)
			}
			if !s.sides[secondarySide].down() {
				t.Fatal("setup: the secondary is not down")
			}
			if err := s.Query("UPDATE kv SET v = ? WHERE k = ?", "x", 1).Exec(); err == nil {
				t.Fatal("the leader failed the write, Exec returned nil")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if tc.wantLand {
				for {
					f.mu.Lock()
					n := len(f.seen[secondarySide])
					f.mu.Unlock()
					if n > 0 {
						return
					}
					if ctx.Err() != nil {
						t.Fatal("the entry of a write the leader failed without refusing never landed on the follower")
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			if err := s.WaitReplayed(ctx); err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			landed := len(f.seen[secondarySide])
			f.mu.Unlock()
			if landed != 0 {
				t.Fatalf("the write the leader refused landed on the follower through the replay log (%d)", landed)
			}
		})
	}
}

// TestDetachCopiesCollections: after detach, reusing a []T or map value the caller passed does
// not change what op holds (one level deep).
func TestDetachCopiesCollections(t *testing.T) {
	tags := []string{"a"}
	ints := []int{1}
	m := map[string]int{"k": 1}
	op := &writeOp{}
	op.one[0] = Stmt{Stmt: "UPDATE kv SET a = ?, b = ?, c = ? WHERE k = ?", Values: []any{tags, ints, m, 7}}
	op.stmts = op.one[:]
	op.detach()
	tags[0], ints[0], m["k"] = "b", 2, 2
	m["new"] = 3
	v := op.stmts[0].Values
	if v[0].([]string)[0] != "a" || v[1].([]int)[0] != 1 || v[2].(map[string]int)["k"] != 1 || len(v[2].(map[string]int)) != 1 || v[3].(int) != 7 {
		t.Fatalf("detached values follow the caller's reused memory: %v", v)
	}
}
