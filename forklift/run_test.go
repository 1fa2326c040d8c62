package forklift

import (
	"context"
	"errors"
	"testing"
)

// Checkpoint checks are per shard: shard 1/2 resuming before it ever saved a checkpoint starts its
// ranges while shard 0/2's checkpoints exist; a shard killed before saving all its first
// checkpoints resumes; checkpoints from another split of the ring are refused.
func TestPlanRunChecksPerShard(t *testing.T) {
	ctx := context.Background()
	tb := testTable(t, "lww", nil)
	store := &MemoryCheckpoints{}
	s0, s1 := Shard{0, 2}, Shard{1, 2}
	items, _, owned, err := planRun(ctx, store, "r", []*table{tb}, 8, s0, true)
	if err != nil || owned != 4 || len(items) != 4 {
		t.Fatalf("shard 0/2 first start: %d items of %d, %v", len(items), owned, err)
	}
	// Shard 0 finishes one range.
	store.Save(ctx, Checkpoint{Run: "r", Table: tb.Name(), Range: items[0].r, Last: items[0].r.End, Done: true})
	items, _, _, err = planRun(ctx, store, "r", []*table{tb}, 8, s1, true)
	if err != nil || len(items) != 4 {
		t.Fatalf("shard 1/2 first start after shard 0 saved checkpoints: %d items, %v", len(items), err)
	}
	items, _, _, err = planRun(ctx, store, "r", []*table{tb}, 8, s0, true)
	if err != nil || len(items) != 3 {
		t.Fatalf("shard 0/2 resumed: %d items, %v (want the 3 ranges not done)", len(items), err)
	}
	// A shard killed after saving only some of its first checkpoints.
	partial := &MemoryCheckpoints{}
	r0 := FullRing.Split(8)[0]
	partial.Save(ctx, Checkpoint{Run: "r", Table: tb.Name(), Range: r0, Last: r0.Start})
	if _, _, _, err := planRun(ctx, partial, "r", []*table{tb}, 8, Shard{0, 1}, true); err != nil {
		t.Fatalf("resume after a kill between the first saves: %v", err)
	}
	// Another split of the ring.
	if _, _, _, err := planRun(ctx, store, "r", []*table{tb}, 16, s1, true); !errors.Is(err, ErrRangesChanged) {
		t.Fatalf("resume with 16 ranges over checkpoints of 8: %v, want ErrRangesChanged", err)
	}
}
