package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/bradfitz/gomemcache/memcache"

	"github.com/globalcloud/islands/cachesync"
)

// evictTombstoneTTL is the tombstone lifetime of TestCachesyncEviction's agents (the age past which
// a set is late) and of the us-east-1 client's tombstones: short enough to wait past it, long
// enough for a fresh event to reach its agent younger than it.
const evictTombstoneTTL = 8 * time.Second

// evictMaxDrift is the clients' and agents' MaxDrift in TestCachesyncEviction: tombstones live
// TombstoneTTL + 2 s + MaxDrift (issue 23: memcached's one-second tick, and the padding for a clock
// that ran ahead), so a short one keeps the wait for the expiry short.
const evictMaxDrift = time.Second

// evictHeldTTL is the lifetime of the eu-west-1 client's tombstones in TestCachesyncEviction: long,
// so that only eviction can take them during the test.
const evictHeldTTL = time.Minute

// TestCachesyncEviction: no resurrection after a tombstone goes (issue 13), on real memcached with
// real eviction and real expiry. In each region a key gets a value (a set replicated from the other
// region) and is then deleted there, which leaves a tombstone at version v. The tombstone then goes:
//
//   - eviction, in eu-west-1: filler values flood its memcached (-m 256) until memcached has
//     evicted the tombstone (its class counts the eviction), long before its lifetime (1 min) ends;
//   - expiry, in us-east-1: the test waits past the tombstone lifetime.
//
// Then the replicated set of the old value (version < v) arrives again, late — SQS delivers at
// least once, a publisher resends after an outage — through the region's queue to its agent. The
// key must not hold the old value again: the agent applies a set older than the tombstone lifetime
// as an invalidation. A newer set after it must land (a test that passed by dropping everything
// would fail here).
func TestCachesyncEviction(t *testing.T) {
	e := needServices(t)
	start := time.Now()
	us, eu := csRegions(t, e, "cachesync-evict", cachesync.PublisherOptions{})
	for r, held := range map[*csRegion]time.Duration{us: evictTombstoneTTL, eu: evictHeldTTL} {
		cl, err := cachesync.NewClient(r.mc, r.pub, cachesync.ClientOptions{Region: r.name, Rules: csRules, TombstoneTTL: held, MaxDrift: evictMaxDrift})
		if err != nil {
			t.Fatal(err)
		}
		r.client = cl
		startAgent(t, e, r, cachesync.AgentOptions{TombstoneTTL: evictTombstoneTTL, MaxDrift: evictMaxDrift})
	}
	ctx := context.Background()
	run := fmt.Sprint(time.Now().UnixNano())
	type evictCase struct {
		how      string    // what removes the tombstone
		from, in *csRegion // the old value is written in from and replicated to in, where it is deleted
		key      string
		old      cachesync.Version // the old value's version
		del      cachesync.Version // the tombstone's
		deleted  time.Time
	}
	cases := []*evictCase{
		{how: "evicted", from: us, in: eu, key: "profile:evict:" + run + ":evicted"},
		{how: "expired", from: eu, in: us, key: "profile:evict:" + run + ":expired"},
	}
	for _, c := range cases {
		v, err := c.from.client.Set(ctx, &cachesync.Item{Key: c.key, Value: []byte("old")})
		if err != nil {
			t.Fatalf("set %s in %s: %v", c.key, c.from.name, err)
		}
		c.old = v
	}
	for _, c := range cases {
		waitValue(t, c.in, c.key, "old", 10*time.Second)
		v, err := c.in.client.Delete(ctx, c.key)
		if err != nil {
			t.Fatalf("delete %s in %s: %v", c.key, c.in.name, err)
		}
		c.del, c.deleted = v, time.Now()
		if !c.old.Less(c.del) {
			t.Fatalf("%s: delete version %+v is not newer than the value's %+v", c.key, c.del, c.old)
		}
	}

	// Eviction: memcached evicts the eu tombstone while it still has most of its lifetime.
	evicted := cases[0]
	fl := evictFlood(t, e.EUMemcached, run, evicted.key, evicted.deleted.Add(evictHeldTTL/3))
	t.Logf("eu tombstone evicted %s after the delete (lifetime %s): %d MiB of 1 MiB fillers, then %d fillers of its slab class %d (%d bytes each), %d MiB in all; %d evictions in the class",
		fl.evictedAt.Sub(evicted.deleted).Round(time.Millisecond), evictHeldTTL, fl.bigBytes>>20, fl.small, fl.class, fl.itemSize, fl.bytes>>20, fl.evictions)

	// Both late events are older than the agents' tombstone lifetime when they arrive; the us
	// tombstone has expired by then (memcached counts whole seconds: one more for its clock).
	for _, c := range cases {
		sleepUntil(time.UnixMicro(c.old.Micros).Add(evictTombstoneTTL + 500*time.Millisecond))
	}
	expired := cases[1]
	// Its lifetime: TombstoneTTL + 2 s of margin + MaxDrift, given as seconds from the delete
	// plus one (memcached's tick); then 1.5 s as before.
	sleepUntil(expired.deleted.Add(evictTombstoneTTL + 2*time.Second + evictMaxDrift + time.Second + 1500*time.Millisecond))
	for _, c := range cases {
		if present, _, _ := mcDebug(t, addrOf(e, c.in), c.key); present {
			t.Fatalf("%s: the %s tombstone is still in memcached", c.key, c.in.name)
		}
	}
	sc := sqsClient(e)
	for _, c := range cases {
		ev := &cachesync.Event{Format: cachesync.EventFormat, ID: "late-" + c.how, Op: cachesync.OpSet, Key: c.key,
			Value: []byte("old"), Version: c.old}
		body, err := ev.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(c.in.queue), MessageBody: aws.String(string(body))}); err != nil {
			t.Fatalf("send the late event: %v", err)
		}
	}
	waitDrained(t, e, 20*time.Second, us.queue, eu.queue)
	for _, c := range cases {
		if got, ok := cacheValue(t, c.in, c.key); ok && got == "old" {
			t.Errorf("%s: tombstone %s, then the set of version %d (older than the delete's %d) delivered late: the key holds the old value %q again (resurrected)",
				c.in.name, c.how, c.old.Micros, c.del.Micros, got)
		} else if ok {
			t.Errorf("%s: tombstone %s, late set: the key holds %q, want nothing", c.in.name, c.how, got)
		}
	}

	// A newer set still lands in both regions.
	for _, c := range cases {
		v, err := c.from.client.Set(ctx, &cachesync.Item{Key: c.key, Value: []byte("new")})
		if err != nil {
			t.Fatalf("newer set of %s in %s: %v", c.key, c.from.name, err)
		}
		if !c.del.Less(v) {
			t.Fatalf("%s: the newer set's version %+v is not newer than the delete's %+v", c.key, v, c.del)
		}
	}
	for _, c := range cases {
		waitValue(t, c.in, c.key, "new", 10*time.Second)
	}
	t.Logf("FIGURES tombstone_evicted_after_bytes=%d (1MiB_fillers=%d bytes, class_fillers=%d of item size %d, class %d, class_evictions=%d) flood=%s test=%s",
		fl.bytes, fl.bigBytes, fl.small, fl.itemSize, fl.class, fl.evictions, fl.took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// addrOf is the memcached address of region r.
func addrOf(e Env, r *csRegion) string {
	if r.name == "eu-west-1" {
		return e.EUMemcached
	}
	return e.USMemcached
}

func sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}

// cacheValue reads key through r's client: its value, or ok false on a miss (nothing, or a
// tombstone).
func cacheValue(t *testing.T, r *csRegion, key string) (string, bool) {
	t.Helper()
	it, err := r.client.Get(context.Background(), key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return "", false
	}
	if err != nil {
		t.Fatalf("%s get %s: %v", r.name, key, err)
	}
	return string(it.Value), true
}

// waitValue waits until r's cache holds want at key.
func waitValue(t *testing.T, r *csRegion, key, want string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got, ok := cacheValue(t, r, key)
		if ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s = %q (present %v) after %s, want %q", r.name, key, got, ok, limit, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// floodResult is what evictFlood wrote to get the tombstone evicted.
type floodResult struct {
	bigBytes        int64 // 1 MiB fillers: fill memcached's memory
	small           int   // fillers of the tombstone's slab class
	class, itemSize int   // that class and the tombstone's item size
	bytes           int64 // keys and values written in all
	evictions       int   // evictions memcached counted in that class meanwhile
	evictedAt       time.Time
	took            time.Duration
}

// evictFlood makes memcached at addr evict key by writing filler values under the prefix
// evictfill:<run>: (deleted again when the test ends, and set to expire in 5 minutes anyway), and
// fails the test if key is still there at deadline. It never gets key, which would mark it active
// in memcached's LRU and keep it there.
//
// 1 MiB fillers alone do not do it: memcached evicts from the LRU of the slab class that needs
// room, and the 1 MiB items' class is not the tombstone's. So they first take every free page
// (memory full: no class can grow any more), then fillers of the tombstone's exact item size
// cycle its class's LRU until the tombstone falls off its tail (memcached counts the eviction). The
// small fillers go pipelined on the text protocol (noreply): the class may hold a million items.
func evictFlood(t *testing.T, addr, run, key string, deadline time.Time) floodResult {
	t.Helper()
	start := time.Now()
	var res floodResult
	var bigKeys []string
	smallPrefix := "evictfill:" + run + ":s:"
	smallKey := func(b []byte, i int) []byte { // prefix and 9 digits: every small filler key has the same length
		b = append(b, smallPrefix...)
		n := len(b)
		b = strconv.AppendInt(b, int64(1_000_000_000+i), 10)
		return append(b[:n], b[n+1:]...)
	}
	pagesBefore, err := slabPages(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := pipeline(addr, 1, 0, len(bigKeys), func(b []byte, i int) []byte {
			return append(append(append(b, "delete "...), bigKeys[i]...), " noreply\r\n"...)
		})
		if err == nil {
			err = pipeline(addr, 3, 0, res.small, func(b []byte, i int) []byte {
				return append(smallKey(append(b, "delete "...), i), " noreply\r\n"...)
			})
		}
		if err != nil {
			t.Errorf("deleting the fillers: %v", err)
			return
		}
		moved, err := givePagesBack(addr, pagesBefore)
		if err != nil {
			t.Errorf("giving memcached's pages back: %v", err)
		}
		t.Logf("fillers deleted; %d memcached pages given back to the global pool", moved)
	})

	// 1. Fill the memory with 320 values of 1 MiB (less room for the key and item header).
	mc := memcached(addr)
	mc.MaxIdleConns = 4
	big := make([]byte, 1<<20-4096)
	for i := 0; i < 320; i++ {
		bigKeys = append(bigKeys, fmt.Sprintf("evictfill:%s:b:%d", run, i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < len(bigKeys); i += 4 {
				if err := mc.Set(&memcache.Item{Key: bigKeys[i], Value: big, Expiration: 300}); err != nil {
					errs <- fmt.Errorf("filler %s: %w", bigKeys[i], err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	res.bigBytes = int64(len(bigKeys)) * int64(len(big))
	res.bytes = res.bigBytes

	// 2. The tombstone's class and size, and the filler value length that gives the same size.
	present, cls, size := mcDebug(t, addr, key)
	if !present {
		t.Fatalf("%s left memcached during the 1 MiB fillers: cannot tell its class", key)
	}
	res.class, res.itemSize = cls, size
	evictedStat := fmt.Sprintf("items:%d:evicted", cls)
	evictedBefore := mcStatInt(t, addr, "items", evictedStat)
	probe := string(smallKey(nil, 0))
	setValue := func(value []byte) func(b []byte, i int) []byte {
		head := " 0 300 " + strconv.Itoa(len(value)) + " noreply\r\n"
		return func(b []byte, i int) []byte {
			b = smallKey(append(b, "set "...), i)
			return append(append(append(b, head...), value...), "\r\n"...)
		}
	}
	const probeLen = 16
	if err := pipeline(addr, 1, 0, 1, setValue(make([]byte, probeLen))); err != nil {
		t.Fatal(err)
	}
	_, _, probeSize := mcDebug(t, addr, probe)
	valueLen := probeLen + size - probeSize
	if valueLen < 0 {
		t.Fatalf("the tombstone item (%d bytes) is smaller than a filler with an empty value", size)
	}
	value := make([]byte, valueLen)
	if err := pipeline(addr, 1, 0, 1, setValue(value)); err != nil {
		t.Fatal(err)
	}
	res.small = 1
	if _, c, s := mcDebug(t, addr, probe); c != cls || s != size {
		t.Fatalf("a filler of %d value bytes is class %d size %d, the tombstone class %d size %d", valueLen, c, s, cls, size)
	}

	// 3. Cycle the class: each round writes as many fillers as the class has chunks, and a
	// quarter more, until the tombstone is gone.
	for round := 0; ; round++ {
		chunks := mcStatInt(t, addr, "slabs", fmt.Sprintf("%d:total_chunks", cls))
		n := chunks + chunks/4 + 1000
		if err := pipeline(addr, 3, res.small, res.small+n, setValue(value)); err != nil {
			t.Fatal(err)
		}
		res.small += n
		res.bytes += int64(n) * int64(len(probe)+valueLen)
		if present, _, _ := mcDebug(t, addr, key); !present {
			res.evictedAt = time.Now()
			break
		}
		if time.Now().After(deadline) || round == 20 {
			t.Fatalf("%s still in memcached after %d rounds (%d fillers of class %d, %d chunks): not evicted in time",
				key, round+1, res.small, cls, chunks)
		}
	}
	res.took = time.Since(start)
	if res.evictions = mcStatInt(t, addr, "items", evictedStat) - evictedBefore; res.evictions == 0 {
		t.Fatalf("%s left memcached but its class counted no eviction", key)
	}
	return res
}

// pipeline sends the commands cmd(i) for i in [from, to) over conns connections, without waiting
// for replies (they must be noreply), and then waits until memcached has processed them all. Any
// reply (an error) fails it.
func pipeline(addr string, conns, from, to int, cmd func(b []byte, i int) []byte) error {
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	per := (to - from + conns - 1) / conns
	for g := 0; g < conns; g++ {
		lo, hi := from+g*per, min(from+(g+1)*per, to)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			r := bufio.NewReader(c)
			var b []byte
			unsynced := 0
			for i := lo; i < hi; i++ {
				b = cmd(b, i)
				unsynced++
				if len(b) < 1<<16 && i < hi-1 {
					continue
				}
				sync := unsynced >= 20000 || i == hi-1
				if sync {
					b = append(b, "mn\r\n"...) // a meta no-op: its MN says memcached is done so far
				}
				if _, err := c.Write(b); err != nil {
					errs <- err
					return
				}
				b = b[:0]
				if sync {
					unsynced = 0
					if line, err := r.ReadString('\n'); err != nil || line != "MN\r\n" {
						errs <- fmt.Errorf("memcached %s: reply %q, %v", addr, line, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// textCommand sends one command line to memcached at addr and returns its reply lines up to END
// (or the one line of a meta command's reply).
func textCommand(t *testing.T, addr, line string) []string {
	t.Helper()
	out, err := textCommandErr(addr, line)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func textCommandErr(addr, line string) ([]string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("memcached %s: %w", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(line + "\r\n")); err != nil {
		return nil, fmt.Errorf("memcached %q: %w", line, err)
	}
	r := bufio.NewReader(c)
	var out []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("memcached %q: %w", line, err)
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "END" {
			return out, nil
		}
		out = append(out, l)
		if strings.HasPrefix(line, "m") || strings.HasPrefix(line, "slabs ") {
			return out, nil
		}
	}
}

// slabPages returns how many 1 MB pages each slab class of memcached at addr holds.
func slabPages(addr string) (map[int]int, error) {
	out, err := textCommandErr(addr, "stats slabs")
	if err != nil {
		return nil, err
	}
	pages := map[int]int{}
	for _, l := range out {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		if cls, ok := strings.CutSuffix(f[1], ":total_pages"); ok {
			c, _ := strconv.Atoi(cls)
			pages[c], _ = strconv.Atoi(f[2])
		}
	}
	return pages, nil
}

// givePagesBack returns to memcached's global page pool (slabs reassign N 0) the pages a class
// holds beyond what it held before: emptied by the deletion of the fillers, they would otherwise
// stay with the 1 MiB class and leave the small classes of the tests that follow a page each
// (memcached's automover gives them back only slowly).
func givePagesBack(addr string, before map[int]int) (moved int, err error) {
	after, err := slabPages(addr)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for cls, n := range after {
		for extra := n - before[cls]; extra > 0 && time.Now().Before(deadline); {
			out, err := textCommandErr(addr, fmt.Sprintf("slabs reassign %d 0", cls))
			if err != nil {
				return moved, err
			}
			switch {
			case len(out) == 1 && out[0] == "OK":
				moved++
				extra--
			case len(out) == 1 && strings.HasPrefix(out[0], "BUSY"):
				time.Sleep(time.Millisecond)
			default: // NOSPARE (the class is down to its last page) or refused: leave it
				extra = 0
			}
		}
	}
	return moved, nil
}

// mcDebug looks key up with the meta debug command, which neither fetches the item nor moves it
// in the LRU: whether memcached holds it, its slab class and its item size.
func mcDebug(t *testing.T, addr, key string) (present bool, class, size int) {
	t.Helper()
	out := textCommand(t, addr, "me "+key)
	if len(out) == 1 && out[0] == "EN" {
		return false, 0, 0
	}
	if len(out) != 1 || !strings.HasPrefix(out[0], "ME ") {
		t.Fatalf("memcached me %s: %q", key, out)
	}
	for _, f := range strings.Fields(out[0]) {
		if v, ok := strings.CutPrefix(f, "cls="); ok {
			class, _ = strconv.Atoi(v)
		}
		if v, ok := strings.CutPrefix(f, "size="); ok {
			size, _ = strconv.Atoi(v)
		}
	}
	if class == 0 || size == 0 {
		t.Fatalf("memcached me %s: no class or size in %q", key, out[0])
	}
	return true, class, size
}

// mcStatInt returns one integer of "stats <group>" ("slabs", "items").
func mcStatInt(t *testing.T, addr, group, name string) int {
	t.Helper()
	for _, l := range textCommand(t, addr, "stats "+group) {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "STAT" && f[1] == name {
			n, err := strconv.Atoi(f[2])
			if err != nil {
				t.Fatalf("stats %s %s = %q", group, name, f[2])
			}
			return n
		}
	}
	t.Fatalf("stats %s has no %s", group, name)
	return 0
}
