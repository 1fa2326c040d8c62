package dualwrite

import (
	"context"
	"testing"
)

// BenchmarkWriteOverhead measures the library's own cost of one dual write (both sides answer at
// once, in memory): allocations and time around the two requests. (Phase Dual explicitly: the
// default phase became PrimaryOnly, which measured one side only.)
func BenchmarkWriteOverhead(b *testing.B) {
	f := &fakeSides{}
	noop := func(context.Context, *writeOp) (bool, error) { return true, nil }
	f.set(primarySide, noop)
	f.set(secondarySide, noop)
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(func(ctx context.Context, sd side, op *writeOp) (bool, error) { return true, nil }), WithReplayLog(NewMemLog()), WithPhase(Dual)})
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

// BenchmarkWriteOverheadBlob is BenchmarkWriteOverhead with six values, one of them a 64-byte
// []byte: what copying the caller's values (writeOp.detach) costs past the inline few.
func BenchmarkWriteOverheadBlob(b *testing.B) {
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(func(ctx context.Context, sd side, op *writeOp) (bool, error) { return true, nil }), WithReplayLog(NewMemLog()), WithPhase(Dual)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	blob := make([]byte, 64)
	vals := []any{0, "a", "b", "c", "d", blob}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Query("INSERT INTO ks.kv (k, a, b, c, d, v) VALUES (?, ?, ?, ?, ?, ?)", vals...).WithContext(ctx).Exec(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteOverheadAsync is BenchmarkWriteOverhead under Async: the follower copy is
// queued, and the values are encoded once before sending (a value the replay log could not keep
// is refused before the caller is acknowledged; the bytes are reused by any entry kept).
func BenchmarkWriteOverheadAsync(b *testing.B) {
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(func(ctx context.Context, sd side, op *writeOp) (bool, error) { return true, nil }),
			WithReplayLog(NewMemLog()), WithPhase(Dual), WithPolicy(Async)})
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
