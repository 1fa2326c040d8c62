package cachesync

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// The model's calls into cachesync.

// modelRegressionSeeds found violations in earlier code. Seed 2 (and 220 of the first 300 seeds)
// failed on the code before BeginFill/Fill: "r0 holds p:2="p:2@r0#15" (v=73640823) but the
// database's newest is "p:2@r1#25" (v=54832972)" — a fill whose read began long before, stamped
// when it stored, beat the newer replicated write and every invalidation.
// Seed 4 failed with the second event sent to the other regions only: an eviction in the origin
// region let an older replicated set in over the origin's own newest write. Seed 131 failed with
// the second invalidation stamped when sent (see SecondEvent).
// Seed 8194 failed with fills on a miss stored by add: an invalidation landed and its tombstone
// expired during a slow fill, which then stored a value read before the write.
// With the model of issue 23 (expiries, more operations, checks after every step): seed 5 found a
// client's own version refused after a backward clock step, 674 a CompareAndSwap writing an older
// version over a far-ahead value, 1273 tombstone lifetimes given to memcached as absolute times
// (shortened by skew), 1113 a backward step making a late event look young, 1060 and 2161
// lifetimes computed from a clock ahead, 5959 an expiring fill taking a tombstone's place.
var modelRegressionSeeds = []uint64{2, 3, 4, 5, 6, 131, 8194, 674, 1060, 1113, 1151, 1273, 2161, 5959}

func newModelNodes(t *testing.T, r *mRegion) (*Client, *Agent) {
	c, err := NewClient(r.mc, sink{r}, ClientOptions{Region: r.name, Rules: modelRules, TombstoneTTL: modelTombstone, Now: r.now, MaxDrift: modelMaxDrift, MaxClockSkew: modelMaxSkew})
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{mc: r.mc, opts: AgentOptions{TombstoneTTL: modelTombstone, Now: r.now, MaxDrift: modelMaxDrift}, logger: discard, handlers: map[string]Handler{}}
	return c, a
}

func modelSecond(ev *Event, from *mRegion) *Event { return SecondEvent(ev) }

// modelWrite is the application's write: a version from the client's clock, the database write
// at that version, then the cache.
func modelWrite(ctx context.Context, r *mRegion, key, val string, del bool, exp int32) (Version, error) {
	w := r.w
	v := r.client.Now()
	w.dbWrite(r, dbWrite{key: key, value: val, deleted: del, version: v, expires: absExpiry(exp, r.now())})
	var err error
	if del {
		_, err = r.client.DeleteAt(ctx, key, v)
	} else {
		_, err = r.client.Set(ctx, &Item{Key: key, Value: []byte(val), Version: v, Expiration: exp})
	}
	if errors.Is(err, ErrNotApplied) {
		err = nil
	}
	return v, err
}

func modelBeginFill(ctx context.Context, r *mRegion, key string) any {
	tok, err := r.client.BeginFill(ctx, key)
	if err != nil {
		r.w.t.Fatal(err)
	}
	return tok
}

// modelFill stores what the fill read, with the expiry the database gives it.
func modelFill(ctx context.Context, r *mRegion, key, val string, expires int64, tok any) error {
	exp := int32(expires)
	if expires != 0 && expires <= r.now().Unix() {
		exp = -1
	}
	return r.client.Fill(ctx, tok.(*FillToken), &Item{Key: key, Value: []byte(val), Expiration: exp})
}

func modelApply(r *mRegion, ev *Event) (bool, error) {
	before := r.agent.stats.Applied.Load()
	err := r.agent.apply(context.Background(), ev, types.Message{})
	return r.agent.stats.Applied.Load() > before, err
}
