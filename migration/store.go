package migration

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/internal/handoff"
)

// DefaultKeyspace is the control keyspace's name when none is given.
const DefaultKeyspace = "islands_control"

// State is a migration's row: its phase, epoch, who set them and when, and forklift's record.
type State struct {
	Name          string    `json:"name"`
	Phase         string    `json:"phase"`
	Epoch         int64     `json:"epoch"`
	PreviousPhase string    `json:"previous_phase,omitempty"`
	ChangedBy     string    `json:"changed_by"`
	ChangedAt     time.Time `json:"changed_at"`
	// Forklift is forklift's last record ("running", "finished", "failed: …", "" = never ran).
	Forklift        string    `json:"forklift,omitempty"`
	ForkliftBy      string    `json:"forklift_by,omitempty"`
	ForkliftStarted time.Time `json:"forklift_started,omitzero"`
	ForkliftEnded   time.Time `json:"forklift_ended,omitzero"`
}

// Heartbeat is one instance's report, written with a TTL: the epoch and phase it applied, its
// replay backlog and dead letters, and the last error of its watcher.
type Heartbeat struct {
	Migration string `json:"-"`
	Instance  string `json:"instance"`
	Region    string `json:"region"`
	// Epoch applied (-1: registered, phase not read yet) and its phase.
	Epoch int64  `json:"epoch"`
	Phase string `json:"phase"`
	// Backlog is the replay log's entries (all sides: the log does not count per side) and the
	// age of the oldest.
	Backlog    int64         `json:"backlog"`
	BacklogAge time.Duration `json:"backlog_age_ns"`
	// DeadLetters are replay log entries set aside because they can never land as they are.
	DeadLetters int64 `json:"dead_letters"`
	// LastError is the watcher's last error ("" = none since the last success).
	LastError string `json:"last_error,omitempty"`
	// ControlReadAge is how long ago the instance last read the control keyspace.
	ControlReadAge time.Duration `json:"control_read_age_ns"`
	// Flips counts the phase changes the instance applied from the control keyspace.
	Flips int64 `json:"flips"`
	// Updated is when the heartbeat was written (the instance's clock).
	Updated time.Time `json:"updated"`
}

// Store reads and writes the control keyspace through a gocql session.
type Store struct {
	s  *gocql.Session
	ks string
	// ReadConsistency is the fleet-wide read of the heartbeats (Wait, ForkliftGate). Default
	// EACH_QUORUM; see invariant 4.
	ReadConsistency gocql.Consistency
	// WriteConsistency of heartbeats. Default LOCAL_QUORUM.
	WriteConsistency gocql.Consistency
	// LocalConsistency of an instance's read of its migration's row. Default LOCAL_QUORUM.
	LocalConsistency gocql.Consistency
}

// NewStore uses s (owned by the caller) for the control keyspace ks ("" = DefaultKeyspace).
func NewStore(s *gocql.Session, ks string) *Store {
	if ks == "" {
		ks = DefaultKeyspace
	}
	return &Store{s: s, ks: ks, ReadConsistency: gocql.EachQuorum, WriteConsistency: gocql.LocalQuorum,
		LocalConsistency: gocql.LocalQuorum}
}

func (st *Store) handedOff(ctx context.Context, name string) (map[string]int64, error) {
	return handoff.Backlog(ctx, handoff.NewCQLStore(st.s, st.ks), name)
}

func (st *Store) fleetConsistency() gocql.Consistency { return st.ReadConsistency }

// Keyspace is the control keyspace's name.
func (st *Store) Keyspace() string { return st.ks }

func (st *Store) table(t string) string { return cql.Quote(st.ks) + "." + t }

// query is stmt on the control keyspace's session at consistency c: every statement of the Store
// goes through it.
func (st *Store) query(ctx context.Context, c gocql.Consistency, stmt string, args ...any) *gocql.Query {
	return st.s.Query(stmt, args...).WithContext(ctx).Consistency(c)
}

// exec runs a write at consistency c; its failure is ErrUnavailable, naming what was written.
func (st *Store) exec(ctx context.Context, c gocql.Consistency, what string, stmt string, args ...any) error {
	if err := st.query(ctx, c, stmt, args...).Exec(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
	}
	return nil
}

// EnsureSchema creates the control keyspace and its tables when missing. replication maps each
// datacenter to its replication factor; nil replicates once in every datacenter the session's
// cluster knows (system.local and system.peers). It needs CREATE permission: the operator's
// command runs it, applications never do.
func (st *Store) EnsureSchema(ctx context.Context, replication map[string]int) error {
	if replication == nil {
		dcs, err := st.datacenters(ctx)
		if err != nil {
			return err
		}
		replication = map[string]int{}
		for _, dc := range dcs {
			replication[dc] = 1
		}
	}
	var parts []string
	for dc, rf := range replication {
		parts = append(parts, fmt.Sprintf("'%s': %d", strings.ReplaceAll(dc, "'", "''"), rf))
	}
	sort.Strings(parts)
	stmts := []string{
		fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = {'class': 'NetworkTopologyStrategy', %s}",
			cql.Quote(st.ks), strings.Join(parts, ", ")),
		"CREATE TABLE IF NOT EXISTS " + st.table("migrations") + ` (name text PRIMARY KEY, phase text, epoch bigint,
			previous_phase text, changed_by text, changed_at timestamp, forklift_state text, forklift_by text,
			forklift_started timestamp, forklift_ended timestamp)`,
		"CREATE TABLE IF NOT EXISTS " + st.table("instances") + ` (migration text, instance text, region text,
			epoch bigint, phase text, backlog bigint, backlog_age_ms bigint, dead_letters bigint, last_error text,
			control_read_age_ms bigint, flips bigint, updated_at timestamp, PRIMARY KEY (migration, instance))`,
	}
	stmts = append(stmts, handoff.Schema(st.ks)...) // the hand-off of dualwrite's replay backlog (WithHandoff)
	for _, s := range stmts {
		if err := st.s.Query(s).WithContext(ctx).Exec(); err != nil { // DDL: the session's consistency
			return fmt.Errorf("%w: creating the control keyspace %s: %w", ErrUnavailable, st.ks, err)
		}
	}
	return nil
}

func (st *Store) datacenters(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	var dc string
	if err := st.s.Query("SELECT data_center FROM system.local").WithContext(ctx).Scan(&dc); err != nil {
		return nil, fmt.Errorf("%w: reading the datacenters: %w", ErrUnavailable, err)
	}
	seen[dc] = true
	it := st.s.Query("SELECT data_center FROM system.peers").WithContext(ctx).Iter()
	for it.Scan(&dc) {
		seen[dc] = true
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("%w: reading the datacenters: %w", ErrUnavailable, err)
	}
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out, nil
}

// serialRead is the SERIAL consistency as a read's consistency (the protocol's 0x0008): it sees the
// latest committed lightweight transaction, completing one in progress.
const serialRead = gocql.Consistency(gocql.Serial)

const stateColumns = "name, phase, epoch, previous_phase, changed_by, changed_at, forklift_state, forklift_by, forklift_started, forklift_ended"

func scanState(sc interface{ Scan(...any) error }) (State, error) {
	var s State
	var prev, by, fk, fkBy *string
	var at, fs, fe *time.Time
	err := sc.Scan(&s.Name, &s.Phase, &s.Epoch, &prev, &by, &at, &fk, &fkBy, &fs, &fe)
	s.PreviousPhase, s.ChangedBy, s.Forklift, s.ForkliftBy = deref(prev), deref(by), deref(fk), deref(fkBy)
	s.ChangedAt, s.ForkliftStarted, s.ForkliftEnded = derefT(at), derefT(fs), derefT(fe)
	return s, err
}

// deref is the value of a nullable column (a null reads as the zero value).
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

func derefT(p *time.Time) time.Time {
	if p == nil || p.IsZero() {
		return time.Time{}
	}
	return p.UTC()
}

// Get reads a migration at consistency c (serialRead for the latest committed change; an
// instance's watcher uses LocalConsistency). ErrNotFound when it does not exist.
func (st *Store) Get(ctx context.Context, name string, c gocql.Consistency) (State, error) {
	s, err := scanState(st.query(ctx, c, "SELECT "+stateColumns+" FROM "+st.table("migrations")+" WHERE name = ?", name))
	if errors.Is(err, gocql.ErrNotFound) {
		return State{}, fmt.Errorf("%w: %q in %s (create it with `islands migration set %s primary-only`)", ErrNotFound, name, st.ks, name)
	}
	if err != nil {
		return State{}, fmt.Errorf("%w: reading migration %q: %w", ErrUnavailable, name, err)
	}
	return s, nil
}

// Phase reads the migration's phase and epoch for an instance (LocalConsistency).
func (st *Store) Phase(ctx context.Context, name string) (phase string, epoch int64, err error) {
	s, err := st.Get(ctx, name, st.LocalConsistency)
	return s.Phase, s.Epoch, err
}

// PhaseSerial reads the migration's phase and epoch at SERIAL: the latest committed epoch, for an
// instance whose LOCAL_QUORUM read showed an epoch older than one it already applied.
func (st *Store) PhaseSerial(ctx context.Context, name string) (phase string, epoch int64, err error) {
	s, err := st.Get(ctx, name, serialRead)
	return s.Phase, s.Epoch, err
}

// compareAndSet is the only write of a migration's phase: the LWT of invariant 1. expect < 0
// creates the migration (IF NOT EXISTS) at epoch 1. It returns the new state, or ErrConflict
// naming the state that is there instead.
func (st *Store) compareAndSet(ctx context.Context, name string, expect int64, from, to, by string, at time.Time) (State, error) {
	var q *gocql.Query
	next := expect + 1
	if expect < 0 {
		next = 1
		q = st.query(ctx, gocql.Quorum, "INSERT INTO "+st.table("migrations")+" (name, phase, epoch, previous_phase, changed_by, changed_at) VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS",
			name, to, next, from, by, at)
	} else {
		q = st.query(ctx, gocql.Quorum, "UPDATE "+st.table("migrations")+" SET phase = ?, epoch = ?, previous_phase = ?, changed_by = ?, changed_at = ? WHERE name = ? IF epoch = ?",
			to, next, from, by, at, name, expect)
	}
	q = q.SerialConsistency(gocql.Serial)
	prev := map[string]any{}
	applied, err := q.MapScanCAS(prev)
	if err != nil {
		return State{}, fmt.Errorf("%w: changing migration %q from epoch %d: the change may or may not have applied "+
			"(islands migration status %s): %w", ErrUnavailable, name, expect, name, err)
	}
	if !applied {
		cur, gerr := st.Get(ctx, name, serialRead)
		if gerr != nil {
			return State{}, fmt.Errorf("%w: epoch %d of %q is no longer current (%v)", ErrConflict, expect, name, gerr)
		}
		return cur, fmt.Errorf("%w: %q moved to epoch %d (%s, by %s at %s) before this change from epoch %d applied",
			ErrConflict, name, cur.Epoch, cur.Phase, cur.ChangedBy, cur.ChangedAt.Format(time.RFC3339), expect)
	}
	return State{Name: name, Phase: to, Epoch: next, PreviousPhase: from, ChangedBy: by, ChangedAt: at.UTC()}, nil
}

// WriteHeartbeat writes h with the given TTL (WriteConsistency), rounded UP to whole seconds
// (Cassandra's TTL unit): the row never expires before ttl, which the instance's liveness
// argument relies on (a 1.9 s TTL written as 1 s would drop a live instance out of the fleet).
func (st *Store) WriteHeartbeat(ctx context.Context, h Heartbeat, ttl time.Duration) error {
	secs := ttlSeconds(ttl)
	return st.exec(ctx, st.WriteConsistency, "heartbeat of "+h.Migration+"/"+h.Instance,
		"INSERT INTO "+st.table("instances")+` (migration, instance, region, epoch, phase, backlog, backlog_age_ms,
		dead_letters, last_error, control_read_age_ms, flips, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`,
		h.Migration, h.Instance, h.Region, h.Epoch, h.Phase, h.Backlog, h.BacklogAge.Milliseconds(), h.DeadLetters,
		h.LastError, h.ControlReadAge.Milliseconds(), h.Flips, h.Updated, secs)
}

// Heartbeats reads every live instance of a migration at consistency c, sorted by region and name.
func (st *Store) Heartbeats(ctx context.Context, name string, c gocql.Consistency) ([]Heartbeat, error) {
	it := st.query(ctx, c, `SELECT instance, region, epoch, phase, backlog, backlog_age_ms, dead_letters, last_error,
		control_read_age_ms, flips, updated_at FROM `+st.table("instances")+" WHERE migration = ?", name).PageSize(5000).Iter()
	var out []Heartbeat
	for {
		h := Heartbeat{Migration: name}
		var region, phase, lastErr *string
		var backlog, ageMS, dead, readMS, flips *int64
		var updated *time.Time
		if !it.Scan(&h.Instance, &region, &h.Epoch, &phase, &backlog, &ageMS, &dead, &lastErr, &readMS, &flips, &updated) {
			break
		}
		h.Region, h.Phase, h.LastError = deref(region), deref(phase), deref(lastErr)
		h.Backlog, h.BacklogAge, h.DeadLetters = deref(backlog), time.Duration(deref(ageMS))*time.Millisecond, deref(dead)
		h.ControlReadAge, h.Flips, h.Updated = time.Duration(deref(readMS))*time.Millisecond, deref(flips), derefT(updated)
		out = append(out, h)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("%w: reading the instances of %q at %s: %w", ErrUnavailable, name, c, err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Region != out[j].Region {
			return out[i].Region < out[j].Region
		}
		return out[i].Instance < out[j].Instance
	})
	return out, nil
}

// RecordForklift records forklift's start (state "running", started set) or end (any other
// state, ended set) on the migration's row. It is not a phase change: no epoch, no LWT.
func (st *Store) RecordForklift(ctx context.Context, name, state, by string, at time.Time) error {
	what := fmt.Sprintf("recording forklift %s on %q", state, name)
	if state == "running" {
		return st.exec(ctx, gocql.Quorum, what, "UPDATE "+st.table("migrations")+
			" SET forklift_state = ?, forklift_by = ?, forklift_started = ?, forklift_ended = null WHERE name = ?", state, by, at, name)
	}
	return st.exec(ctx, gocql.Quorum, what, "UPDATE "+st.table("migrations")+
		" SET forklift_state = ?, forklift_by = ?, forklift_ended = ? WHERE name = ?", state, by, at, name)
}

// ttlSeconds is ttl in whole seconds, rounded up, at least 1.
func ttlSeconds(ttl time.Duration) int {
	secs := int((ttl + time.Second - 1) / time.Second)
	return max(secs, 1)
}

// DeleteHeartbeat removes an instance's heartbeat: a session that closes leaves the fleet at once.
func (st *Store) DeleteHeartbeat(ctx context.Context, name, instance string) error {
	return st.exec(ctx, st.WriteConsistency, "removing the heartbeat of "+name+"/"+instance,
		"DELETE FROM "+st.table("instances")+" WHERE migration = ? AND instance = ?", name, instance)
}
