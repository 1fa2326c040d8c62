package forklift

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/internal/cql"
	"github.com/globalcloud/islands/internal/loghash"
	"github.com/globalcloud/islands/internal/private"
	"github.com/globalcloud/islands/merge"
)

// quarantineSink keeps the partitions a resolver refused to merge, for a person to decide: a row in
// <checkpoint keyspace>.forklift_quarantine of the destination and, when configured, a JSON line.
type quarantineSink struct {
	s     *gocql.Session
	table string
	run   string
	mu    sync.Mutex
	file  *os.File
}

// QuarantineRecord is one quarantined partition as Job.Quarantined lists it. Both versions are in
// the table's source and destination columns and in the quarantine file, in one format: merge's
// quarantine JSON (a file line is merge.QuarantineJSONLine's with "run" and "at" added;
// merge.ParseQuarantineJSONLine reads it back).
type QuarantineRecord struct {
	Run    string    `json:"run"`
	Table  string    `json:"table"`
	Key    string    `json:"key"` // partition key components, hex, joined by ":"
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// quarantineLine is the quarantine file's line for q (newline included), and the two versions as
// the table stores them: merge's JSON form, with the run and the time added.
func quarantineLine(run, table string, q *merge.Quarantine, at time.Time) (line []byte, src, dst string, err error) {
	b, err := merge.QuarantineJSONLine(table, q)
	if err != nil {
		return nil, "", "", err
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, "", "", fmt.Errorf("forklift: quarantine record of %s: %w", table, err)
	}
	rec["run"], _ = json.Marshal(run)
	rec["at"], _ = json.Marshal(at)
	if line, err = json.Marshal(rec); err != nil {
		return nil, "", "", fmt.Errorf("forklift: quarantine record of %s: %w", table, err)
	}
	return append(line, '\n'), string(rec["source"]), string(rec["destination"]), nil
}

func newQuarantineSink(ctx context.Context, s *gocql.Session, cfg *Config) (*quarantineSink, error) {
	q := &quarantineSink{s: s, table: cql.QuoteTable(cfg.CheckpointKeyspace, "forklift_quarantine"), run: cfg.RunID}
	if err := ensureKeyspace(ctx, s, cfg.CheckpointKeyspace, cfg.CheckpointRF, cfg.Destination.LocalDC, cfg.CheckpointReplication); err != nil {
		return nil, err
	}
	err := ensureTable(ctx, s, cfg.CheckpointKeyspace, "forklift_quarantine", `CREATE TABLE IF NOT EXISTS `+q.table+` (run text, tbl text, key text, reason text,
		source text, destination text, at timestamp, PRIMARY KEY ((run, tbl), key))`)
	if err != nil {
		return nil, fmt.Errorf("forklift: create quarantine table %s: %w", q.table, err)
	}
	if cfg.QuarantineFile != "" {
		if q.file, err = openQuarantineFile(cfg.QuarantineFile); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// openQuarantineFile opens the quarantine file for appending, 0600: its lines hold both versions
// of member rows (internal/private).
func openQuarantineFile(path string) (*os.File, error) {
	f, err := private.OpenAppend(path)
	if err != nil {
		return nil, fmt.Errorf("%w: quarantine_file: %v", ErrConfig, err)
	}
	return f, nil
}

// keyHash is how an error or a log line names a partition key (member data: a key may be an
// email): loghash's keyed hash (HMAC-SHA-256 under the process's key, see internal/loghash) of its
// components (keyString), the same key giving the same hash. The key itself is in the quarantine
// table and file (0600), never in an error.
func keyHash(key [][]byte) string {
	return "key_hash " + loghash.String(keyString(key))
}

func keyString(key [][]byte) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = hex.EncodeToString(k)
	}
	return strings.Join(parts, ":")
}

func (q *quarantineSink) put(ctx context.Context, t *table, key [][]byte, qu *merge.Quarantine) error {
	rec := QuarantineRecord{Run: q.run, Table: t.Name(), Key: keyString(key), Reason: qu.Reason, At: time.Now().UTC()}
	line, src, dst, err := quarantineLine(rec.Run, rec.Table, qu, rec.At)
	if err != nil {
		return err
	}
	err = retry(ctx, 3, nil, func() error {
		return q.s.Query(`INSERT INTO `+q.table+` (run, tbl, key, reason, source, destination, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			rec.Run, rec.Table, rec.Key, rec.Reason, src, dst, rec.At).WithContext(ctx).Exec()
	})
	if err != nil {
		return fmt.Errorf("forklift: record quarantined partition (%s) of %s: %w", keyHash(key), rec.Table, err)
	}
	if q.file != nil {
		q.mu.Lock()
		_, err = q.file.Write(line)
		q.mu.Unlock()
		if err != nil {
			return fmt.Errorf("forklift: write quarantine file: %w", err)
		}
	}
	return nil
}

// Quarantined reads back the partitions of one source table (keyspace.table) the Job's run has
// quarantined: key, reason and time (the JSON lines of quarantine_file hold both versions).
func (j *Job) Quarantined(ctx context.Context, table string) ([]QuarantineRecord, error) {
	cfg := &j.cfg
	iter := j.dst.Query(`SELECT key, reason, at FROM `+cql.QuoteTable(cfg.CheckpointKeyspace, "forklift_quarantine")+
		` WHERE run = ? AND tbl = ?`, cfg.RunID, table).WithContext(ctx).Iter()
	var out []QuarantineRecord
	var r QuarantineRecord
	for iter.Scan(&r.Key, &r.Reason, &r.At) {
		r.Run, r.Table = cfg.RunID, table
		out = append(out, r)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("forklift: read quarantine of %s: %w", table, err)
	}
	return out, nil
}

func (q *quarantineSink) Close() error {
	if q == nil || q.file == nil {
		return nil
	}
	return q.file.Close()
}
