package integration

import (
	"context"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/forklift"
)

// TestForkliftWithCheckpoints (issue 28: every exported name is used or tested): a Job opened
// WithCheckpoints keeps Run's checkpoints in the store given (here the in-memory one) — every
// range of the table done there — and Config reports the configuration with its defaults.
func TestForkliftWithCheckpoints(t *testing.T) {
	e := needServices(t)
	ks := "adopter_ckstore"
	src, dst := session(t, e.USCQL), session(t, e.EUCQL)
	for _, s := range []*gocql.Session{src, dst} {
		freshKeyspace(t, s, ks)
		ddl(t, s, "CREATE TABLE "+ks+".t (k int PRIMARY KEY, v text)")
	}
	for k := 0; k < 50; k++ {
		if err := src.Query("INSERT INTO "+ks+".t (k, v) VALUES (?, 'v')", k).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	cfg := forkliftConfig(e, forklift.TableConfig{Keyspace: ks, Table: "t"})
	cfg.Ranges, cfg.RunID = 8, "ckstore"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store := &forklift.MemoryCheckpoints{}
	j, err := forklift.Open(ctx, cfg, forklift.WithSessions(src, dst), forklift.WithCheckpoints(store))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if c := j.Config(); c.PageSize != forklift.Defaults().PageSize || c.Ranges != 8 || c.RunID != "ckstore" {
		t.Errorf("Config() = page_size %d ranges %d run %q, want the default, 8 and ckstore", c.PageSize, c.Ranges, c.RunID)
	}
	if _, err := j.Run(ctx, forklift.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	cps, err := store.Load(ctx, "ckstore")
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for _, cp := range cps {
		if cp.Done {
			done++
		}
	}
	if done != 8 {
		t.Fatalf("the store holds %d checkpoints, %d done; want the 8 ranges done", len(cps), done)
	}
}
