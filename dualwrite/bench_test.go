package dualwrite

import (
	"context"
	"testing"
)

// BenchmarkWriteOverhead measures the library's own cost of one dual write (both sides answer at
// once, in memory): allocations and time around the two requests.
func BenchmarkWriteOverhead(b *testing.B) {
	f := &fakeSides{}
	noop := func(context.Context, *writeOp) (bool, error) { return true, nil }
	f.set(primarySide, noop)
	f.set(secondarySide, noop)
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(func(ctx context.Context, sd side, op *writeOp) (bool, error) { return true, nil }), WithReplayLog(NewMemLog())})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Query("INSERT INTO ks.kv (k, v) VALUES (?, ?)", i, "v").WithContext(ctx).Exec(); err != nil {
			b.Fatal(err)
		}
	}
}
