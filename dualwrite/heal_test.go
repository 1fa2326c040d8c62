package dualwrite

import (
	"sync"
	"testing"
)

// TestSessionGenerations: a retired generation stays usable by the requests that acquired it and
// is closed exactly when the last of them releases it; later requests get the new generation.
func TestSessionGenerations(t *testing.T) {
	sc := newSideConn(secondarySide, nil, nil)
	old := sc.acquire()
	fresh := &sessGen{}
	sc.cur.Swap(fresh).retire()
	if old.retired.Load() != true || old.refs.Load() != 1 {
		t.Fatalf("old generation: retired %v refs %d", old.retired.Load(), old.refs.Load())
	}
	if old.closed.Load() {
		t.Fatal("the retired generation was closed while a request still held it")
	}
	if g := sc.acquire(); g != fresh {
		t.Fatal("a request after the swap got the retired generation")
	} else {
		g.release()
	}
	old.release()
	if old.refs.Load() != 0 || !old.closed.Load() {
		t.Fatalf("after the last release: refs %d, closed %v", old.refs.Load(), old.closed.Load())
	}
	// Many requests racing a swap never hold a generation with negative or leaked references.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				g := sc.acquire()
				g.release()
			}
		}()
	}
	for j := 0; j < 100; j++ {
		sc.cur.Swap(&sessGen{}).retire()
	}
	wg.Wait()
	if g := sc.cur.Load(); g.refs.Load() != 0 || g.retired.Load() {
		t.Fatalf("current generation refs %d retired %v", g.refs.Load(), g.retired.Load())
	}
}
