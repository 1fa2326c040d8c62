package handoff

import (
	"context"
	"testing"
	"time"
)

// TestAttackHandoff2MemStoreScopesOfDifferentLengths: MemStore claims CQLStore's semantics, where
// scopes are partitions of one table and listing one never touches another. MemStore.Batches
// compares each key's first len(scope)+1 bytes by slicing k[:len(scope)+1], which panics on a key
// of a shorter scope ("a/x" while listing "orders"): two sessions of different names sharing one
// MemStore (as dualwrite's tests share one store between instances) crash the lister — its
// background listing, Backlog, the authority check.
//
// Interleaving: Put(scope "a", batch "x"); Batches(scope "orders").
//
// Promise: MemStore "following CQLStore's semantics"; Store "Scope separates migrations (or
// sessions) sharing it".
func TestAttackHandoff2MemStoreScopesOfDifferentLengths(t *testing.T) {
	ctx := context.Background()
	st := NewMemStore()
	if err := st.Put(ctx, "a", Batch{ID: "x", Side: "secondary", Entries: 1, Created: time.Now()}, [][]byte{[]byte("e")}); err != nil {
		t.Fatal(err)
	}
	var bs []Batch
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("Batches(\"orders\") with a batch of scope \"a\" in the store panicked: %v", r)
			}
		}()
		bs, err = st.Batches(ctx, "orders")
	}()
	if err != nil || len(bs) != 0 {
		t.Fatalf("Batches(\"orders\") = %v, %v; want none (the batch is scope a's)", bs, err)
	}
}
