package handoff

import (
	"context"
	"fmt"
	"time"

	"github.com/gocql/gocql"
	"golang.org/x/sync/errgroup"

	"github.com/globalcloud/islands/internal/cql"
)

// Schema returns the statements creating the hand-off tables in keyspace ks (which must exist).
// They need CREATE permission: the operator's `islands migration set` runs them in the control
// keyspace; applications never do. The application's role needs SELECT and MODIFY on the three
// tables (docs/security.md).
func Schema(ks string) []string {
	q := cql.Quote(ks)
	return []string{
		"CREATE TABLE IF NOT EXISTS " + q + `.handoff_batches (scope text, id text, side text, entry_count int, origin text,
			holder text, created timestamp, PRIMARY KEY (scope, id))`,
		"CREATE TABLE IF NOT EXISTS " + q + `.handoff_entries (scope text, id text, seq int, entry blob,
			PRIMARY KEY ((scope, id), seq))`,
		"CREATE TABLE IF NOT EXISTS " + q + `.handoff_leases (scope text, lease text, owner text, PRIMARY KEY (scope, lease))`,
	}
}

// Tables are the hand-off tables' names (for grants and checks).
var Tables = []string{"handoff_batches", "handoff_entries", "handoff_leases"}

// CQLStore is the Store in a Cassandra keyspace. Rows are written and read at Consistency
// (default LOCAL_QUORUM); leases by lightweight transactions at SERIAL, so that claimers in
// different datacenters exclude each other.
type CQLStore struct {
	// Session returns the gocql session to use and a function releasing it.
	Session     func() (*gocql.Session, func())
	Keyspace    string
	Consistency gocql.Consistency
	// Parallel bounds the entries written at once by Put (default 32).
	Parallel int
}

// NewCQLStore returns a store on a session the caller owns.
func NewCQLStore(s *gocql.Session, ks string) *CQLStore {
	return &CQLStore{Session: func() (*gocql.Session, func()) { return s, func() {} }, Keyspace: ks}
}

func (c *CQLStore) sess() (*gocql.Session, func(), error) {
	s, release := c.Session()
	if s == nil {
		release()
		return nil, nil, fmt.Errorf("handoff: no session to keyspace %s", c.Keyspace)
	}
	return s, release, nil
}

func (c *CQLStore) cons() gocql.Consistency {
	if c.Consistency == gocql.Any {
		return gocql.LocalQuorum
	}
	return c.Consistency
}

func (c *CQLStore) table(t string) string { return cql.Quote(c.Keyspace) + "." + t }

// Put writes the entries (in parallel), then the batch row.
func (c *CQLStore) Put(ctx context.Context, scope string, b Batch, entries [][]byte) error {
	s, release, err := c.sess()
	if err != nil {
		return err
	}
	defer release()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(c.Parallel, 32))
	ins := "INSERT INTO " + c.table("handoff_entries") + " (scope, id, seq, entry) VALUES (?, ?, ?, ?)"
	for i, e := range entries {
		g.Go(func() error {
			return s.Query(ins, scope, b.ID, i, e).WithContext(gctx).Consistency(c.cons()).Idempotent(true).Exec()
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("handoff: writing the entries of batch %s: %w", b.ID, err)
	}
	err = s.Query("INSERT INTO "+c.table("handoff_batches")+" (scope, id, side, entry_count, origin, holder, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
		scope, b.ID, b.Side, b.Entries, b.Origin, b.Holder, b.Created).WithContext(ctx).Consistency(c.cons()).Idempotent(true).Exec()
	if err != nil {
		return fmt.Errorf("handoff: writing batch %s: %w", b.ID, err)
	}
	return nil
}

// Batches lists the scope's batches (one partition), oldest first.
func (c *CQLStore) Batches(ctx context.Context, scope string) ([]Batch, error) {
	s, release, err := c.sess()
	if err != nil {
		return nil, err
	}
	defer release()
	it := s.Query("SELECT id, side, entry_count, origin, holder, created FROM "+c.table("handoff_batches")+" WHERE scope = ?", scope).
		WithContext(ctx).Consistency(c.cons()).Iter()
	var out []Batch
	var b Batch
	for it.Scan(&b.ID, &b.Side, &b.Entries, &b.Origin, &b.Holder, &b.Created) {
		out = append(out, b)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("handoff: listing the batches of %s: %w", scope, err)
	}
	return out, nil
}

// Entries reads a batch's entries in order.
func (c *CQLStore) Entries(ctx context.Context, scope, id string) ([][]byte, error) {
	s, release, err := c.sess()
	if err != nil {
		return nil, err
	}
	defer release()
	it := s.Query("SELECT entry FROM "+c.table("handoff_entries")+" WHERE scope = ? AND id = ?", scope, id).
		WithContext(ctx).Consistency(c.cons()).PageSize(1000).Iter()
	var out [][]byte
	var e []byte
	for it.Scan(&e) {
		out = append(out, append([]byte(nil), e...))
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	return out, nil
}

// Delete removes the batch row, then its entries' partition.
func (c *CQLStore) Delete(ctx context.Context, scope, id string) error {
	s, release, err := c.sess()
	if err != nil {
		return err
	}
	defer release()
	if err := s.Query("DELETE FROM "+c.table("handoff_batches")+" WHERE scope = ? AND id = ?", scope, id).
		WithContext(ctx).Consistency(c.cons()).Idempotent(true).Exec(); err != nil {
		return err
	}
	return s.Query("DELETE FROM "+c.table("handoff_entries")+" WHERE scope = ? AND id = ?", scope, id).
		WithContext(ctx).Consistency(c.cons()).Idempotent(true).Exec()
}

func ttlSeconds(d time.Duration) int { return max(1, int((d+time.Second-1)/time.Second)) }

// Acquire: INSERT … IF NOT EXISTS USING TTL, at SERIAL.
func (c *CQLStore) Acquire(ctx context.Context, scope, lease, owner string, ttl time.Duration) (bool, string, error) {
	s, release, err := c.sess()
	if err != nil {
		return false, "", err
	}
	defer release()
	m := map[string]any{}
	ok, err := s.Query("INSERT INTO "+c.table("handoff_leases")+" (scope, lease, owner) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?",
		scope, lease, owner, ttlSeconds(ttl)).WithContext(ctx).Consistency(c.cons()).SerialConsistency(gocql.Serial).MapScanCAS(m)
	if err != nil {
		return false, "", err
	}
	if ok {
		return true, owner, nil
	}
	h, _ := m["owner"].(string)
	return false, h, nil
}

// Release: DELETE … IF owner = ?, at SERIAL.
func (c *CQLStore) Release(ctx context.Context, scope, lease, owner string) error {
	s, release, err := c.sess()
	if err != nil {
		return err
	}
	defer release()
	_, err = s.Query("DELETE FROM "+c.table("handoff_leases")+" WHERE scope = ? AND lease = ? IF owner = ?", scope, lease, owner).
		WithContext(ctx).Consistency(c.cons()).SerialConsistency(gocql.Serial).MapScanCAS(map[string]any{})
	return err
}

// Beat upserts a lease only owner writes, with a TTL.
func (c *CQLStore) Beat(ctx context.Context, scope, lease, owner string, ttl time.Duration) error {
	s, release, err := c.sess()
	if err != nil {
		return err
	}
	defer release()
	return s.Query("INSERT INTO "+c.table("handoff_leases")+" (scope, lease, owner) VALUES (?, ?, ?) USING TTL ?",
		scope, lease, owner, ttlSeconds(ttl)).WithContext(ctx).Consistency(c.cons()).Idempotent(true).Exec()
}

// Drop deletes a lease written by Beat.
func (c *CQLStore) Drop(ctx context.Context, scope, lease string) error {
	s, release, err := c.sess()
	if err != nil {
		return err
	}
	defer release()
	return s.Query("DELETE FROM "+c.table("handoff_leases")+" WHERE scope = ? AND lease = ?", scope, lease).
		WithContext(ctx).Consistency(c.cons()).Idempotent(true).Exec()
}

// Holder reads a lease's owner ("" = none).
func (c *CQLStore) Holder(ctx context.Context, scope, lease string) (string, error) {
	s, release, err := c.sess()
	if err != nil {
		return "", err
	}
	defer release()
	var owner string
	err = s.Query("SELECT owner FROM "+c.table("handoff_leases")+" WHERE scope = ? AND lease = ?", scope, lease).
		WithContext(ctx).Consistency(c.cons()).Scan(&owner)
	if err == gocql.ErrNotFound {
		return "", nil
	}
	return owner, err
}
