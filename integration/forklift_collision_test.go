package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"
	"sync"
	"testing"

	"github.com/globalcloud/islands/forklift"
)

// Murmur3 collisions on demand. Cassandra's Murmur3Partitioner takes the first half of
// MurmurHash3_x64_128 (seed 0) of the stored partition key as its token. Each 16-byte block
// changes the state (h1, h2) by steps that are all invertible (xor, rotate, add, multiply by an odd
// constant), so from any state a block can be solved that leads to any chosen state: two keys of
// one length that differ before a free block, that block solved per key to reach one state, and
// identical after it, hash alike. (Only whole blocks are solved; the tail is the same in both.)

const (
	mmC1 = 0x87c37b91114253d5
	mmC2 = 0x4cf5ad432745937f
)

// mmInv is the inverse of odd x modulo 2^64 (Newton's iteration).
func mmInv(x uint64) uint64 {
	y := x
	for range 6 {
		y *= 2 - x*y
	}
	return y
}

func mmFmix(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// mmBlock is one block's step of the state.
func mmBlock(h1, h2 uint64, blk []byte) (uint64, uint64) {
	k1, k2 := binary.LittleEndian.Uint64(blk), binary.LittleEndian.Uint64(blk[8:])
	k1 = bits.RotateLeft64(k1*mmC1, 31) * mmC2
	h1 ^= k1
	h1 = (bits.RotateLeft64(h1, 27)+h2)*5 + 0x52dce729
	k2 = bits.RotateLeft64(k2*mmC2, 33) * mmC1
	h2 ^= k2
	h2 = (bits.RotateLeft64(h2, 31)+h1)*5 + 0x38495ab5
	return h1, h2
}

// mmSolve returns the block that takes state (h1, h2) to (t1, t2).
func mmSolve(h1, h2, t1, t2 uint64) []byte {
	inv5 := mmInv(5)
	x := (t1 - 0x52dce729) * inv5 // = rotl(h1^K1, 27) + h2
	K1 := bits.RotateLeft64(x-h2, -27) ^ h1
	k1 := bits.RotateLeft64(K1*mmInv(mmC2), -31) * mmInv(mmC1)
	y := (t2 - 0x38495ab5) * inv5 // = rotl(h2^K2, 31) + t1
	K2 := bits.RotateLeft64(y-t1, -31) ^ h2
	k2 := bits.RotateLeft64(K2*mmInv(mmC1), -33) * mmInv(mmC2)
	out := binary.LittleEndian.AppendUint64(nil, k1)
	return binary.LittleEndian.AppendUint64(out, k2)
}

// mmToken is Cassandra's Murmur3 token of a stored key whose length is a multiple of 16.
func mmToken(key []byte) int64 {
	var h1, h2 uint64
	for i := 0; i+16 <= len(key); i += 16 {
		h1, h2 = mmBlock(h1, h2, key[i:i+16])
	}
	h1 ^= uint64(len(key))
	h2 ^= uint64(len(key))
	h1 += h2
	h2 += h1
	h1, h2 = mmFmix(h1), mmFmix(h2)
	h1 += h2
	return int64(h1) // Long.MIN_VALUE would be normalised to MAX_VALUE; not reached here
}

// compositeKey is CompositeType's encoding of (a, b): per component a 2-byte length, the bytes, 0.
func compositeKey(a, b []byte) []byte {
	var out []byte
	for _, c := range [][]byte{a, b} {
		out = binary.BigEndian.AppendUint16(out, uint16(len(c)))
		out = append(append(out, c...), 0)
	}
	return out
}

// collidingKeys returns composite keys (a, b), each 48 bytes stored, that share one token: a's
// length varies (1 or 2 bytes), so the keys' stored order (by their encoded bytes) differs from
// the order of their components joined; block 0 differs per key, block 1 is solved to one state,
// block 2 (the end of b and its terminator) is the same.
func collidingKeys(as [][]byte) [][2][]byte {
	tail := []byte("same-end-block.") // 15 bytes + the 0 terminator = block 2
	var t1, t2 uint64
	var out [][2][]byte
	for i, a := range as {
		// Stored: 2+len(a)+1 (a) + 2 (b's length) + len(b) + 1 = 48 → len(b) = 42 - len(a).
		nb := 42 - len(a)
		b := make([]byte, nb)
		for j := range b {
			b[j] = byte('0' + i%10)
		}
		copy(b[nb-15:], tail)
		key := compositeKey(a, b)
		h1, h2 := mmBlock(0, 0, key[:16])
		if i == 0 {
			t1, t2 = mmBlock(h1, h2, key[16:32])
		} else {
			blk := mmSolve(h1, h2, t1, t2)
			// Block 1 is bytes 16..31 of the stored key, all inside b (which starts at 5+len(a)).
			copy(b[16-(5+len(a)):], blk)
		}
		out = append(out, [2][]byte{a, b})
	}
	return out
}

// checkpointTap is a CheckpointStore that calls tap after each Save (the destination's table does
// the saving); the test stops the run there, as a kill right after a checkpoint would.
type checkpointTap struct {
	forklift.MemoryCheckpoints
	mu  sync.Mutex
	tap func(forklift.Checkpoint)
}

func (c *checkpointTap) Save(ctx context.Context, cp forklift.Checkpoint) error {
	if err := c.MemoryCheckpoints.Save(ctx, cp); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tap != nil {
		c.tap(cp)
	}
	return nil
}

// TestForkliftSameTokenCompositeKeys copies a table with a composite partition key whose
// partitions all share one Murmur3 token (collisions built as above), on the real clusters:
//   - Cassandra reports one token for all of them and returns them in the order of their stored
//     bytes (token, then CompositeType encoding, unsigned): forklift's order;
//   - a run stopped right after the first checkpoint at or past that token (pages of one row,
//     ordinary partitions around) and resumed copies every partition: a checkpoint's token is
//     never one with partitions left unwritten;
//   - with a destination-only partition of the same token between them, verify is clean (it walks
//     both sides in Cassandra's order), and after a source change it finds exactly that change.
func TestForkliftSameTokenCompositeKeys(t *testing.T) {
	e := needServices(t)
	src, dst := session(t, e.USCQL), session(t, e.EUCQL)
	const ks = "forklift_collide"
	createBoth(t, src, dst, ks, "CREATE TABLE "+ks+".t (a blob, b blob, ck int, v text, PRIMARY KEY ((a, b), ck))")
	ddl(t, dst, "DROP KEYSPACE IF EXISTS "+ks+"_ckpt")
	ctx := context.Background()

	keys := collidingKeys([][]byte{[]byte("b"), []byte("aa"), []byte("c"), []byte("ab"), []byte("a"), []byte("ba"), []byte("bb")})
	tok := mmToken(compositeKey(keys[0][0], keys[0][1]))
	destOnly := keys[len(keys)-1] // only in the destination, among the source's of the same token
	keys = keys[:len(keys)-1]
	for i, k := range keys {
		for ck := 0; ck < 2; ck++ {
			must(t, src.Query("INSERT INTO "+ks+".t (a, b, ck, v) VALUES (?, ?, ?, ?) USING TIMESTAMP 1000", k[0], k[1], ck, string(rune('p'+i))).Exec())
		}
	}
	must(t, dst.Query("INSERT INTO "+ks+".t (a, b, ck, v) VALUES (?, ?, 0, 'dest-only') USING TIMESTAMP 1000", destOnly[0], destOnly[1]).Exec())
	for i := 0; i < 60; i++ { // ordinary partitions around them, so the run stops in mid-range
		must(t, src.Query("INSERT INTO "+ks+".t (a, b, ck, v) VALUES (?, ?, 0, 'filler') USING TIMESTAMP 1000",
			[]byte("f"), binary.BigEndian.AppendUint32(nil, uint32(i))).Exec())
	}

	// Cassandra: one token, partitions in stored-byte order.
	it := src.Query("SELECT token(a, b), a, b FROM "+ks+".t WHERE token(a, b) = ? PER PARTITION LIMIT 1", tok).Iter()
	var got [][]byte
	var ct int64
	var a, b []byte
	for it.Scan(&ct, &a, &b) {
		if ct != tok {
			t.Fatalf("token(%x, %x) = %d, want the built collision %d", a, b, ct, tok)
		}
		got = append(got, compositeKey(a, b))
	}
	must(t, it.Close())
	if len(got) != len(keys) {
		t.Fatalf("%d partitions at token %d, want %d: the built keys do not all collide in Cassandra", len(got), tok, len(keys))
	}
	if !slices.IsSortedFunc(got, bytes.Compare) {
		t.Fatalf("Cassandra's order within token %d is not the stored keys' bytes: %x", tok, got)
	}
	t.Logf("%d composite partitions at token %d, in stored-key order", len(got), tok)

	cfg := forkliftConfig(e, forklift.TableConfig{Keyspace: ks, Table: "t", Resolver: "lww"})
	cfg.CheckpointKeyspace, cfg.RunID, cfg.Ranges, cfg.Workers, cfg.PageSize = ks+"_ckpt", "collide", 4, 1, 1
	store := &checkpointTap{}
	job, err := forklift.Open(ctx, cfg, forklift.WithSessions(src, dst), forklift.WithCheckpoints(store))
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	rctx, cancel := context.WithCancel(ctx)
	var stoppedAt *forklift.Checkpoint
	store.tap = func(cp forklift.Checkpoint) {
		if !cp.Done && cp.Range.Start < tok && tok <= cp.Range.End && cp.Last >= tok && stoppedAt == nil {
			stoppedAt = &cp
			cancel() // the kill: right after the first checkpoint at or past the shared token
		}
	}
	_, err = job.Run(rctx, forklift.RunOptions{})
	cancel()
	if !errors.Is(err, forklift.ErrInterrupted) || stoppedAt == nil {
		t.Fatalf("first run: %v (stopped at %+v), want it interrupted after a checkpoint", err, stoppedAt)
	}
	t.Logf("stopped after the checkpoint at token %d (%d rows)", stoppedAt.Last, stoppedAt.Rows)
	store.tap = nil
	if _, err := job.Run(ctx, forklift.RunOptions{Resume: true}); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		var n int
		must(t, dst.Query("SELECT count(*) FROM "+ks+".t WHERE a = ? AND b = ?", k[0], k[1]).Scan(&n))
		if n != 2 {
			t.Errorf("partition %d (a=%q) has %d rows in the destination after the resumed run, want 2: "+
				"the resume skipped a partition sharing the checkpoint's token", i, k[0], n)
		}
	}
	vr, err := job.Verify(ctx, forklift.VerifyOptions{})
	if err != nil || !vr.Clean {
		t.Fatalf("verify with a destination-only partition at the same token: %v, missing %d mismatched %d: %+v",
			err, vr.Missing, vr.Mismatch, vr.Tables[0].Samples)
	}
	must(t, src.Query("UPDATE "+ks+".t USING TIMESTAMP 2000 SET v = 'changed' WHERE a = ? AND b = ? AND ck = 1", keys[1][0], keys[1][1]).Exec())
	if vr, err = job.Verify(ctx, forklift.VerifyOptions{}); !errors.Is(err, forklift.ErrDifferences) || vr.Missing+vr.Mismatch != 1 {
		t.Fatalf("verify after one source change: %v, missing %d mismatched %d, want exactly 1", err, vr.Missing, vr.Mismatch)
	}
}
