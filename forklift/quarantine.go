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

// QuarantineRecord is one quarantined partition as stored (JSON line and table row).
type QuarantineRecord struct {
	Run         string           `json:"run"`
	Table       string           `json:"table"`
	Key         string           `json:"key"` // partition key components, hex, joined by ":"
	Reason      string           `json:"reason"`
	Source      *merge.Partition `json:"source"`
	Destination *merge.Partition `json:"destination"`
	At          time.Time        `json:"at"`
}

func newQuarantineSink(ctx context.Context, s *gocql.Session, cfg *Config) (*quarantineSink, error) {
	q := &quarantineSink{s: s, table: cql.QuoteTable(cfg.CheckpointKeyspace, "forklift_quarantine"), run: cfg.RunID}
	if err := ensureKeyspace(ctx, s, cfg.CheckpointKeyspace, cfg.CheckpointRF); err != nil {
		return nil, err
	}
	err := s.Query(`CREATE TABLE IF NOT EXISTS ` + q.table + ` (run text, tbl text, key text, reason text,
		source text, destination text, at timestamp, PRIMARY KEY ((run, tbl), key))`).WithContext(ctx).Exec()
	if err != nil {
		return nil, fmt.Errorf("forklift: create quarantine table %s: %w", q.table, err)
	}
	if cfg.QuarantineFile != "" {
		f, err := os.OpenFile(cfg.QuarantineFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("%w: quarantine_file: %v", ErrConfig, err)
		}
		q.file = f
	}
	return q, nil
}

func keyString(key [][]byte) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = hex.EncodeToString(k)
	}
	return strings.Join(parts, ":")
}

func (q *quarantineSink) put(ctx context.Context, t *table, key [][]byte, qu *merge.Quarantine) error {
	rec := QuarantineRecord{Run: q.run, Table: t.Name(), Key: keyString(key), Reason: qu.Reason,
		Source: qu.Source, Destination: qu.Destination, At: time.Now().UTC()}
	src, _ := json.Marshal(rec.Source)
	dst, _ := json.Marshal(rec.Destination)
	err := retry(ctx, 3, nil, func() error {
		return q.s.Query(`INSERT INTO `+q.table+` (run, tbl, key, reason, source, destination, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			rec.Run, rec.Table, rec.Key, rec.Reason, string(src), string(dst), rec.At).WithContext(ctx).Exec()
	})
	if err != nil {
		return fmt.Errorf("forklift: record quarantined partition %s of %s: %w", rec.Key, rec.Table, err)
	}
	if q.file != nil {
		line, _ := json.Marshal(rec)
		q.mu.Lock()
		_, err = q.file.Write(append(line, '\n'))
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
