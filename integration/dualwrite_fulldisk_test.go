package integration

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/globalcloud/islands/dualwrite"
	"github.com/globalcloud/islands/internal/recordlog/recordlogtest"
)

// TestDualwriteFullDiskDrains (issue 22, item 11): the replay log on a 48 KiB file system while the
// follower is paused. Writes that cannot be kept fail with ENOSPC; no pile of empty segments is
// left; once the follower is back the backlog drains (the cursor is written in reserved space and
// the consumed segments are freed) and every acknowledged write is on the follower.
func TestDualwriteFullDiskDrains(t *testing.T) {
	e := needServices(t)
	dir := filepath.Join(recordlogtest.SmallFS(t, 48<<10), "replay")
	const ks = "dualwrite_fulldisk"
	dwKeyspaces(t, e, ks)
	ctx := context.Background()
	dw, err := dualwrite.Open(ctx, dwCluster(e.USCQL, ks), dwCluster(e.EUCQL, ks),
		dualwrite.WithPhase(dualwrite.Dual), dualwrite.WithReplayDir(dir), dualwrite.WithFollowerBudget(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer dw.Close()
	var mu sync.Mutex
	var acked []int
	var full, other atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := int(next.Add(1))
				wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				err := dw.Query("INSERT INTO kv (k, v) VALUES (?, ?)", k, "full-disk").WithContext(wctx).Exec()
				cancel()
				switch {
				case err == nil:
					mu.Lock()
					acked = append(acked, k)
					mu.Unlock()
				case errors.Is(err, syscall.ENOSPC):
					full.Add(1)
				default:
					other.Add(1)
					lastErr.Store(err)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second)
	ensureRunning(t, e, "cassandra-eu")
	fault(t, e, "pause", "cassandra-eu")
	resumed := false
	defer func() {
		if !resumed {
			fault(t, e, "resume", "cassandra-eu")
		}
	}()
	time.Sleep(8 * time.Second)
	fault(t, e, "resume", "cassandra-eu")
	resumed = true
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	n, age := dw.Backlog()
	t.Logf("acknowledged %d, refused with ENOSPC %d, other errors %d (last %v); backlog %d (oldest %s), %d segment files",
		len(acked), full.Load(), other.Load(), lastErr.Load(), n, age, len(segs))
	if full.Load() == 0 {
		t.Fatal("the disk never filled: the test proves nothing (make the pause longer or the file system smaller)")
	}
	if len(segs) > 16 {
		t.Fatalf("%d segment files in the replay directory: failed appends leave empty segments behind", len(segs))
	}
	start := time.Now()
	if err := dw.WaitReplayed(waitCtx(t, 60*time.Second)); err != nil {
		n, age := dw.Backlog()
		t.Fatalf("the backlog does not drain after the follower came back: %d entries, oldest %s: %v", n, age, err)
	}
	eu := dwDump(t, e.EUCQL, ks)
	missing := 0
	for _, k := range acked {
		if _, ok := eu[k]; !ok {
			missing++
		}
	}
	t.Logf("FIGURES fulldisk: acknowledged=%d enospc=%d drained_in=%s missing_eu=%d", len(acked), full.Load(), time.Since(start).Round(time.Millisecond), missing)
	if missing > 0 {
		t.Fatalf("%d acknowledged writes missing on the follower after the drain", missing)
	}
}
