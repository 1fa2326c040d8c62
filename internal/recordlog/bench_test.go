package recordlog

import (
	"context"
	"testing"
)

// BenchmarkAppendParallel: durable appends of 200-byte records from many goroutines; group
// commit makes one fsync serve every append waiting (compare -cpu 1 with -cpu 64 style loads
// via -test.parallelism / b.SetParallelism).
func BenchmarkAppendParallel(b *testing.B) {
	l, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	p := make([]byte, 200)
	b.SetParallelism(32)
	b.SetBytes(int64(len(p)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(context.Background(), p); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAppendSerial: one goroutine, so one fsync per append: the cost group commit saves.
func BenchmarkAppendSerial(b *testing.B) {
	l, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	p := make([]byte, 200)
	b.SetBytes(int64(len(p)))
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
}
