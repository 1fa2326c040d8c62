package dualwrite

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// TestAttack9TextualBatchWithoutSemicolonsListAppendNotRefused
// Interleaving: Dual; one textual `BEGIN BATCH INSERT INTO ks.a … UPDATE ks.b SET tags = tags + [..]
// … APPLY BATCH` whose statements are not separated by ';' (optional in Cassandra's grammar:
// batchStatement is `BEGIN … BATCH usingClause? ( batchStatementObjective ';'? )* APPLY BATCH`).
// parseStatement splits a textual batch on ';' only and parses the first DML of each piece, so the
// second statement's list append (and a list prepend, an index delete) is never seen: the write
// goes to both sides, and a follower failure keeps it for replay, which appends the element twice.
// Promise broken (package doc): "List appends (l = l + x, l += x), prepends (l = x + l) and index
// operations are not idempotent either: in the dual phases they are refused (ErrNotIdempotent)
// before reaching either side" — the same batch written with ';' is refused (control below).
func TestAttack9TextualBatchWithoutSemicolonsListAppendNotRefused(t *testing.T) {
	f := &fakeSides{}
	s := newFakeSession(t, f)
	defer s.Close()
	if err := s.Query("BEGIN BATCH INSERT INTO ks.a (k, v) VALUES (1, 'v'); UPDATE ks.b SET tags = tags + ['x'] WHERE k = 1; APPLY BATCH").Exec(); !errors.Is(err, ErrNotIdempotent) {
		t.Fatalf("control: with ';' separators: %v, want ErrNotIdempotent", err)
	}
	for _, stmt := range []string{
		"BEGIN BATCH INSERT INTO ks.a (k, v) VALUES (1, 'v') UPDATE ks.b SET tags = tags + ['x'] WHERE k = 1 APPLY BATCH",
		"BEGIN BATCH UPDATE ks.b SET v = 'v' WHERE k = 1 UPDATE ks.b SET tags = ['x'] + tags WHERE k = 1 APPLY BATCH",
		"BEGIN BATCH INSERT INTO ks.a (k, v) VALUES (1, 'v') DELETE tags[0] FROM ks.b WHERE k = 1 APPLY BATCH",
	} {
		err := s.Query(stmt).Exec()
		if !errors.Is(err, ErrNotIdempotent) {
			t.Errorf("%q: %v, want ErrNotIdempotent (a list operation of the batch's second statement, separated without ';')", stmt, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.seen[primarySide]) + len(f.seen[secondarySide]); n != 0 {
		t.Errorf("%d side writes landed: a non-idempotent list operation reached the sides (and would be kept for replay on a follower failure)", n)
	}
}

// TestAttack9UnauthorizedOnOtherKeyspaceTableTakenAsTransient
// Interleaving: Dual; the primary takes `INSERT INTO app.users …`; then `INSERT INTO audit.users …`
// (another keyspace's table of the same name) is refused by the primary, Unauthorized (no MODIFY
// on audit), while the secondary times out. The session's "accepted a write on this table" memory
// (tableState) is keyed by table name only, so the primary's refusal is classified transient: the
// write the caller is told failed is kept (Unacked) for the secondary too and replayed there.
// Promise broken (package doc): "an unauthorized answer is not a refusal when ... the side accepted
// a write on the same table before" (audit.users is not the same table as app.users) and "A write
// the leader refused outright is kept for nobody". The control (no earlier app.users write) keeps
// nothing.
func TestAttack9UnauthorizedOnOtherKeyspaceTableTakenAsTransient(t *testing.T) {
	run := func(warm bool) (kept int64, replayedToSecondary bool) {
		f := &fakeSides{}
		var mu sync.Mutex
		secondaryCalls := 0
		landedAudit := false
		f.set(primarySide, func(_ context.Context, op *writeOp) (bool, error) {
			if strings.Contains(op.stmts[0].Stmt, "audit.users") {
				return false, unauthorizedErr{}
			}
			return true, nil
		})
		f.set(secondarySide, func(_ context.Context, op *writeOp) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			if strings.Contains(op.stmts[0].Stmt, "audit.users") {
				secondaryCalls++
				if secondaryCalls == 1 {
					return false, errors.New("timeout: the live write")
				}
				landedAudit = true
			}
			return true, nil
		})
		log := NewMemLog()
		s := newFakeSession(t, f, WithReplayLog(log))
		defer s.Close()
		if warm {
			if err := s.Query("INSERT INTO app.users (id, name) VALUES (?, ?)", 1, "a").Exec(); err != nil {
				t.Fatalf("app.users: %v", err)
			}
		}
		err := s.Query("INSERT INTO audit.users (id, name) VALUES (?, ?)", 1, "a").Exec()
		if err == nil {
			t.Fatalf("audit.users: the primary refused it, want an error")
		}
		kept, _ = log.Backlog()
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			l := landedAudit
			mu.Unlock()
			if l {
				return kept, true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return kept, false
	}
	if kept, replayed := run(false); kept != 0 || replayed {
		t.Fatalf("control: a leader refusal kept %d entries, replayed to secondary: %v; want nothing kept", kept, replayed)
	}
	kept, replayed := run(true)
	if kept != 0 || replayed {
		t.Errorf("primary refused audit.users (Unauthorized) after taking app.users: %d entries kept, replayed to the secondary: %v; "+
			"want nothing kept (a write the leader refused outright is kept for nobody)", kept, replayed)
	}
}

// selfMarshaled is a value only its own gocql.Marshaler can marshal: the replay log cannot keep it.
type selfMarshaled string

func (v selfMarshaled) MarshalCQL(gocql.TypeInfo) ([]byte, error) { return []byte(v), nil }

// TestAttack9AsyncUnencodableAcknowledgedThenLost
// Interleaving: Dual, Async; `INSERT … VALUES (?, ?)` bound with a gocql.Marshaler value: the
// primary takes it and the caller is told success; the queued follower copy fails (a timeout), its
// append fails with ErrUnencodable and it is held in memory as if the log were full, appended again
// forever (it never can be), and lost for the secondary at Close (Stats.AsyncLost).
// Promise broken (ErrUnencodable): "a value of this write cannot be stored in the replay log ...
// The write is reported failed instead of being lost on the follower" — which PrimaryAuthoritative
// keeps (control); Async acknowledges it, and the held-copy path is documented only for a log that
// is full or a disk that is full ("appended again once the log has room"), never for a copy no log
// can ever keep.
func TestAttack9AsyncUnencodableAcknowledgedThenLost(t *testing.T) {
	for _, pol := range []Policy{PrimaryAuthoritative, Async} {
		f := &fakeSides{}
		f.set(secondarySide, func(context.Context, *writeOp) (bool, error) { return false, errors.New("timeout") })
		s := newFakeSession(t, f, WithPolicy(pol), WithFollowerBudget(50*time.Millisecond))
		err := s.Query("INSERT INTO ks.t (k, v) VALUES (?, ?)", 1, selfMarshaled("x")).Exec()
		if pol == PrimaryAuthoritative {
			s.Close()
			if !errors.Is(err, ErrUnencodable) {
				t.Fatalf("control (PrimaryAuthoritative): %v, want ErrUnencodable", err)
			}
			continue
		}
		time.Sleep(200 * time.Millisecond) // the async copy fails and is "held"
		s.Close()
		st := s.Stats()
		if err == nil {
			t.Errorf("Async: the write was acknowledged although its value cannot be kept for replay; the follower copy failed "+
				"and was lost at Close (AsyncUnkept %d, AsyncLost %d); want ErrUnencodable, as under PrimaryAuthoritative",
				st.AsyncUnkept, st.AsyncLost)
		}
	}
}

// listModel is one side's non-frozen list<text> column as Cassandra stores it (Lists.Setter:
// "delete + append": a complex deletion at timestamp-1, then one cell per element under a fresh
// TimeUUID path, UUIDGen.getTimeUUIDBytes(), whatever the client timestamp).
type listModel struct {
	mu      sync.Mutex
	deleted int64 // complex deletion time (µs)
	cells   []listCell
	applied int
}

type listCell struct {
	ts  int64
	val string
}

func (m *listModel) set(ts int64, vals []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applied++
	m.deleted = max(m.deleted, ts-1)
	for _, v := range vals { // a fresh path per element and per application
		m.cells = append(m.cells, listCell{ts, v})
	}
}

func (m *listModel) read() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, c := range m.cells {
		if c.ts > m.deleted {
			out = append(out, c.val)
		}
	}
	return out
}

// TestAttack9WholeListSetReplayedDuplicatesElements
// Interleaving: Dual, PrimaryAuthoritative; `UPDATE ks.t SET tags = ? WHERE k = ?` on a list<text>
// column (the form ErrNotIdempotent's message recommends: "write the whole list (SET l = ?)"):
// the secondary applies it but answers after the follower budget, so it is kept for replay; the
// replayer applies it again with the same timestamp. Cassandra's whole-list set deletes at
// timestamp-1 and appends each element under a fresh cell path, so the second application does
// not replace the first: the secondary reads [a b a b], the primary [a b].
// Promise broken (package doc): "Every write ... gets one client timestamp ... so the two copies
// reconcile to the same cells whatever order the writes land in", with replay "with the original
// timestamp" after a follower that missed its budget; and "List appends ... are not idempotent
// either: in the dual phases they are refused (ErrNotIdempotent)" — a whole-list set of a
// non-frozen list is exactly as non-idempotent and is neither refused nor withheld from replay.
func TestAttack9WholeListSetReplayedDuplicatesElements(t *testing.T) {
	var sides [2]listModel
	f := &fakeSides{}
	first := true
	var mu sync.Mutex
	f.set(primarySide, func(_ context.Context, op *writeOp) (bool, error) {
		sides[primarySide].set(op.ts, op.stmts[0].Values[0].([]string))
		return true, nil
	})
	f.set(secondarySide, func(ctx context.Context, op *writeOp) (bool, error) {
		sides[secondarySide].set(op.ts, op.stmts[0].Values[0].([]string))
		mu.Lock()
		late := first
		first = false
		mu.Unlock()
		if late { // applied, but the answer comes after the budget
			select {
			case <-time.After(150 * time.Millisecond):
			case <-ctx.Done():
			}
		}
		return true, nil
	})
	kinds := func(context.Context, string, string, string) (columnKind, error) { return kindList, nil }
	s := newFakeSession(t, f, WithFollowerBudget(40*time.Millisecond), withColumnKinds(kinds))
	defer s.Close()
	if err := s.Query("UPDATE ks.t SET tags = ? WHERE k = ?", []string{"a", "b"}, 1).Exec(); errors.Is(err, ErrNotIdempotent) {
		// Refused before either side, as list appends are (the fix): nothing to duplicate.
		if a, b := sides[primarySide].applied, sides[secondarySide].applied; a+b != 0 {
			t.Errorf("refused, but applied %d times on the primary and %d on the secondary", a, b)
		}
		return
	} else if err != nil {
		t.Fatalf("write: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitReplayed(ctx); err != nil {
		t.Fatalf("WaitReplayed: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // the late original answers too
	p, q := sides[primarySide].read(), sides[secondarySide].read()
	if strings.Join(p, ",") != strings.Join(q, ",") {
		t.Errorf("after replay the sides differ: primary %v, secondary %v (secondary applied the whole-list set %d times "+
			"with the same timestamp: each application appends its elements under fresh cell paths)", p, q, sides[secondarySide].applied)
	}
}

// TestAttack9AsyncQueuedCopyKeepsFullTTL
// Interleaving: Dual, Async (one worker); the follower is slow on a first copy (1.5 s); meanwhile
// `INSERT … USING TTL 10` is taken by the primary and acknowledged, and its follower copy waits in
// the queue behind the slow one; when the worker sends it, 1.5 s after the leader took it, it still
// says USING TTL 10: the secondary's cell expires 1.5 s (a queue's whole backlog, in general)
// after the primary's.
// Promise broken (package doc): "The TTL of a replayed USING TTL write is what remains of it
// counted from when the leader answered the write ...: time in the async queue or the follower
// budget does not lengthen the follower's copy (Cassandra counts a TTL from the write's arrival,
// whatever its timestamp)". The replayer sends the remaining TTL; the async worker sends the
// original one.
func TestAttack9AsyncQueuedCopyKeepsFullTTL(t *testing.T) {
	f := &fakeSides{}
	var mu sync.Mutex
	var sentTTL string
	var sentAt time.Time
	f.set(secondarySide, func(ctx context.Context, op *writeOp) (bool, error) {
		st := op.stmts[0].Stmt
		if strings.Contains(st, "slow") {
			select {
			case <-time.After(1500 * time.Millisecond):
			case <-ctx.Done():
			}
			return true, nil
		}
		mu.Lock()
		sentTTL = st[strings.LastIndex(st, " ")+1:]
		sentAt = time.Now()
		mu.Unlock()
		return true, nil
	})
	s := newFakeSession(t, f, WithPolicy(Async), WithAsyncQueue(16, 1), WithFollowerBudget(5*time.Second))
	defer s.Close()
	if err := s.Query("INSERT INTO ks.slow (k) VALUES (?)", 1).Exec(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the worker is busy with the slow copy
	leaderAt := time.Now()
	if err := s.Query("INSERT INTO ks.t (k, v) VALUES (?, ?) USING TTL 10", 1, "v").Exec(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		got, at := sentTTL, sentAt
		mu.Unlock()
		if got != "" {
			queued := at.Sub(leaderAt)
			if queued >= time.Second && got == "10" {
				t.Errorf("the follower copy was sent %v after the leader took the write with USING TTL %s: its cell outlives the "+
					"leader's by the time it spent in the async queue (want at most %d)", queued.Round(time.Millisecond), got,
					10-int(queued/time.Second))
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the follower copy was never sent")
}
