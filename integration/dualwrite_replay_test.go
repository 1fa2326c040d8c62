package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/globalcloud/islands/dualwrite"
)

// TestDualwriteReplayPoisonEntry (issue 12, c): one entry that can never land (its column was
// dropped from the follower's table) among 10 000 pending ones. The rest drain; the poison one is
// in the dead-letter file beside the log, not retried forever in front of the others.
func TestDualwriteReplayPoisonEntry(t *testing.T) {
	e := needServices(t)
	t.Parallel() // faults nothing: runs beside the others that fault nothing, after those that do
	const ks = "dualwrite_poison"
	dwKeyspaces(t, e, ks)
	dir := t.TempDir()

	const n = 10000
	l, err := dualwrite.OpenFileLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UnixMicro()
	poison := dualwrite.Entry{Side: "secondary", Timestamp: ts, Stmts: []dualwrite.Stmt{{
		Stmt: "INSERT INTO " + ks + ".kv (k, v, dropped_col) VALUES (?, ?, ?)", Values: []any{-1, "poison", 7}}}}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 64 {
				if i == 100 {
					p := poison
					if err := l.Append(context.Background(), &p); err != nil {
						errs <- err
						return
					}
				}
				en := &dualwrite.Entry{Side: "secondary", Timestamp: ts + int64(i), Stmts: []dualwrite.Stmt{{
					Stmt: "INSERT INTO " + ks + ".kv (k, v) VALUES (?, ?)", Values: []any{i, fmt.Sprint("v", i)}}}}
				if err := l.Append(context.Background(), en); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	l.Close()
	appendTook := time.Since(start)

	primary, secondary := dwSession(t, e.USCQL, ks), dwSession(t, e.EUCQL, ks)
	start = time.Now()
	dw, err := dualwrite.New(primary, secondary, dualwrite.WithPhase(dualwrite.Dual), dualwrite.WithReplayDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer dw.Close()
	if err := dw.WaitReplayed(waitCtx(t, 40*time.Second)); err != nil {
		t.Fatalf("the entries behind a poison one do not drain: %v", err)
	}
	drained := time.Since(start)
	eu := dwDump(t, e.EUCQL, ks)
	if len(eu) != n {
		t.Fatalf("%d rows on the follower after replay, want %d", len(eu), n)
	}
	dead := replayDeadLetters(t, dir)
	t.Logf("FIGURES entries=%d poison=1 append_s=%.1f drain_s=%.1f replayed=%d dead_lettered=%d",
		n, appendTook.Seconds(), drained.Seconds(), dw.Stats().Replayed, len(dead))
	if len(dead) != 1 || dead[0] != poison.Stmts[0].Stmt {
		t.Fatalf("dead-letter file holds %q, want the poison statement only", dead)
	}
}
