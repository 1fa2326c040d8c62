package chaos

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/recordlog"
)

// Two overlapping kills of one child (a mid-flip step over the process track's) leave it with
// one incarnation: the second kill finds it dead and is not injected, and its heal starts nothing.
func TestOverlappingKillsStartOneIncarnation(t *testing.T) {
	c := &Child{Name: "writer-eu", Log: filepath.Join(t.TempDir(), "w.log"), Args: func(int) []string { return []string{"sleep", "30"} }}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	f := ChildFault{Children: []*Child{c}}
	a := Step{Kind: KindKill, Target: "writer-eu"}
	b := Step{Kind: KindKill, Target: "writer-eu", Arg: "mid-flip"}
	if err := f.Start(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(ctx, b); err == nil {
		t.Error("a kill of a child another kill holds was injected")
	}
	if err := f.Stop(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := f.Stop(ctx, b); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	starts := c.starts
	c.mu.Unlock()
	if starts != 2 {
		t.Fatalf("%d incarnations started, want 2 (the first and one restart)", starts)
	}
	// A pause of a child a kill holds is not injected either.
	if err := f.Start(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(ctx, Step{Kind: KindPause, Target: "writer-eu"}); err == nil {
		t.Error("a pause of a killed child was injected")
	}
	if err := f.Stop(ctx, a); err != nil {
		t.Fatal(err)
	}
}

// A writer that exited after the run's quiescence is not started again by the final heal (a new
// incarnation would write, register with the migration and be killed, after the checker ran).
func TestHealAllLeavesRetiredChildrenStopped(t *testing.T) {
	c := &Child{Name: "writer-us", Log: filepath.Join(t.TempDir(), "w.log"), Args: func(int) []string { return []string{"true"} }}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Wait(5 * time.Second)
	c.Retire()
	if err := (ChildFault{Children: []*Child{c}}).HealAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.Running() || c.starts != 1 {
		t.Fatalf("retired child started again: %d starts", c.starts)
	}
}

// A publisher's spill keeps one log per destination queue (q-*): events left in any of them
// after the writers exited are found.
func TestSpillLeftoversReadsEveryDestination(t *testing.T) {
	dir := t.TempDir()
	l, err := recordlog.Open(filepath.Join(dir, "replay-us-spill", "q-1b0178fda0ff6749"), recordlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := l.Append(context.Background(), []byte("event")); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	var n int64
	for _, c := range spillLeftovers(dir) {
		n += c
	}
	if n != 2 {
		t.Fatalf("spill leftovers %v, want the 2 events of q-1b0178fda0ff6749", spillLeftovers(dir))
	}
}
