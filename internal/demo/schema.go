package demo

import (
	"fmt"

	"github.com/gocql/gocql"
)

const (
	islandKS = "demo_island"
	globalKS = "demo_global"
	fliftKS  = "demo_forklift"
)

// dataset is one table of the demo and the resolver forklift merges it with.
type dataset struct {
	Table    string
	DDL      string
	Resolver string
	Options  map[string]any
	Why      string
}

var datasets = []dataset{
	{Table: "profiles", Resolver: "lww", Why: "per cell, the newest write wins, as Cassandra itself decides",
		DDL: "CREATE TABLE %s.profiles (member_id bigint PRIMARY KEY, name text, email text, country text, plan text, updated_at timestamp)"},
	{Table: "bookmarks", Resolver: "newest-by", Options: map[string]any{"column": "updated_at"},
		Why: "per title, the bookmark the member touched last",
		DDL: "CREATE TABLE %s.bookmarks (member_id bigint, title_id bigint, position_s bigint, updated_at timestamp, PRIMARY KEY (member_id, title_id))"},
	{Table: "viewing_history", Resolver: "viewing-history",
		Options: map[string]any{"title-key": 0, "position": "position", "time": "watched_at", "cap": 50},
		Why:     "per title the furthest position, newest 50 titles",
		DDL:     "CREATE TABLE %s.viewing_history (member_id bigint, title_id bigint, position bigint, watched_at timestamp, PRIMARY KEY (member_id, title_id))"},
	{Table: "preferences", Resolver: "quarantine",
		Options: map[string]any{"resolver": "lww", "columns": []any{"maturity_level"}},
		Why:     "lww, but a member whose maturity level differs between islands goes to a person",
		DDL:     "CREATE TABLE %s.preferences (member_id bigint PRIMARY KEY, language text, maturity_level int)"},
}

// createSchema (re)creates the demo's keyspaces in one region.
func createSchema(s *gocql.Session) error {
	for _, ks := range []string{islandKS, globalKS, fliftKS} {
		if err := s.Query("DROP KEYSPACE IF EXISTS " + ks).Exec(); err != nil {
			return fmt.Errorf("drop %s: %w", ks, err)
		}
	}
	for _, ks := range []string{islandKS, globalKS} {
		if err := s.Query("CREATE KEYSPACE " + ks + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").Exec(); err != nil {
			return fmt.Errorf("create %s: %w", ks, err)
		}
		for _, d := range datasets {
			if err := s.Query(fmt.Sprintf(d.DDL, ks)).Exec(); err != nil {
				return fmt.Errorf("create %s.%s: %w", ks, d.Table, err)
			}
		}
	}
	return nil
}
