package forklift

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/globalcloud/islands/merge"
)

func TestSplitCoversTheRing(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 256, 1000} {
		rs := FullRing.Split(n)
		if len(rs) != n {
			t.Fatalf("Split(%d) gave %d ranges", n, len(rs))
		}
		if rs[0].Start != FullRing.Start || rs[len(rs)-1].End != FullRing.End {
			t.Fatalf("Split(%d) does not span the ring: %v … %v", n, rs[0], rs[len(rs)-1])
		}
		for i := 1; i < len(rs); i++ {
			if rs[i].Start != rs[i-1].End || rs[i].End <= rs[i].Start {
				t.Fatalf("Split(%d): range %d %v does not follow %v", n, i, rs[i], rs[i-1])
			}
		}
	}
	if FullRing.Start != math.MinInt64 || FullRing.End != math.MaxInt64 {
		t.Fatalf("FullRing = %v", FullRing)
	}
}

func TestShards(t *testing.T) {
	s, err := ParseShard("2/4")
	if err != nil || s.Index != 2 || s.Count != 4 {
		t.Fatalf("ParseShard(2/4) = %+v, %v", s, err)
	}
	owned := 0
	for i := 0; i < 256; i++ {
		n := 0
		for k := 0; k < 4; k++ {
			if (Shard{Index: k, Count: 4}).Owns(i) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("range %d owned by %d shards", i, n)
		}
		if s.Owns(i) {
			owned++
		}
	}
	if owned != 64 {
		t.Fatalf("shard 2/4 owns %d of 256 ranges", owned)
	}
	for _, bad := range []string{"4/4", "-1/2", "a/b", "1", "1/0"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
}

func TestConfigDefaultsAndErrors(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
source: {hosts: [a]}
destination: {hosts: [b]}
tables: [{keyspace: ks, table: t}]
`))
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.withDefaults() // what Open works with
	d := Defaults()
	if cfg.Workers != d.Workers || cfg.PageSize != d.PageSize || cfg.Ranges != d.Ranges || cfg.DefaultResolver != "lww" ||
		cfg.Source.Consistency != d.Source.Consistency || cfg.CheckpointKeyspace != d.CheckpointKeyspace {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
	if cfg.Tables[0].DestKeyspace() != "ks" {
		t.Fatalf("destination keyspace defaults to the source's, got %q", cfg.Tables[0].DestKeyspace())
	}
	for body, want := range map[string]string{
		"source: {hosts: [a]}\ndestination: {hosts: [b]}\ntables: [{keyspace: ks, table: t}]\nwokers: 2\n": "wokers",
		"source: [a\n": "line 1",
		"destination: {hosts: [b]}\ntables: [{keyspace: ks, table: t}]\n": "source",
	} {
		cfg, err := ParseConfig([]byte(body))
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want ErrConfig naming %q, got %v", body, want, err)
		}
	}
}

// Validating a config, or opening a Job with it, changes nothing the caller holds: not its
// fields, not the Tables slice it shares.
func TestOpenDoesNotMutateTheConfig(t *testing.T) {
	cfg := Config{
		Source:      ClusterConfig{Hosts: []string{"127.0.9.9:1"}, ConnectTimeout: 200 * time.Millisecond, DisableHostLookup: true},
		Destination: ClusterConfig{Hosts: []string{"127.0.9.9:2"}},
		Tables:      []TableConfig{{Keyspace: "ks", Table: "t"}},
	}
	check := func(when string) {
		t.Helper()
		if cfg.Workers != 0 || cfg.DefaultResolver != "" || cfg.Source.Consistency != "" || cfg.Tables[0].Resolver != "" {
			t.Fatalf("%s changed the caller's config: workers %d, default resolver %q, consistency %q, tables[0].resolver %q",
				when, cfg.Workers, cfg.DefaultResolver, cfg.Source.Consistency, cfg.Tables[0].Resolver)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	check("Validate")
	if _, err := Open(context.Background(), cfg); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Open of an unreachable cluster: %v, want ErrUnreachable", err)
	}
	check("Open")
	if _, err := Open(context.Background(), Config{Tables: cfg.Tables}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "source.hosts") {
		t.Fatalf("Open without hosts: %v, want ErrConfig naming source.hosts", err)
	}
	if _, err := Open(context.Background(), cfg, WithSessions(nil, nil)); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Open WithSessions(nil, nil) connects from the config: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	l := newLimiter(1000)
	start := time.Now()
	for i := 0; i < 3; i++ {
		if err := l.wait(context.Background(), 500); err != nil {
			t.Fatal(err)
		}
	}
	// 1500 rows at 1000 rows/s, with a burst allowance: at least half a second.
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("1500 rows at 1000/s took %s", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := newLimiter(1).wait(ctx, 1000); err == nil {
		t.Fatal("wait ignores a cancelled context")
	}
}

// The quarantine file holds merge's format, so merge.ParseQuarantineJSONLine reads a line back to
// both versions exactly, with the run and the time beside them.
func TestQuarantineLineIsMergesFormat(t *testing.T) {
	src := &merge.Partition{Key: [][]byte{{0, 0, 0, 7}}, Rows: []merge.Row{{Clustering: [][]byte{{1}},
		Columns: []merge.Column{{Name: "maturity", Kind: merge.Simple, Present: true, Cell: merge.Cell{Value: []byte{0, 0, 0, 18}, WriteTime: 5, TTL: 60}}}}}}
	dst := &merge.Partition{Key: src.Key, Rows: []merge.Row{{Clustering: [][]byte{{1}},
		Columns: []merge.Column{{Name: "maturity", Kind: merge.Simple, Present: true, Cell: merge.Cell{Value: []byte{0, 0, 0, 12}, WriteTime: 6}}}}}}
	at := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	line, srcCol, dstCol, err := quarantineLine("run-1", "ks.prefs", &merge.Quarantine{Reason: "maturity differs", Source: src, Destination: dst}, at)
	if err != nil {
		t.Fatal(err)
	}
	table, q, err := merge.ParseQuarantineJSONLine(line)
	if err != nil {
		t.Fatalf("merge cannot read forklift's quarantine line %s: %v", line, err)
	}
	if table != "ks.prefs" || q.Reason != "maturity differs" || !reflect.DeepEqual(q.Source, src) || !reflect.DeepEqual(q.Destination, dst) {
		t.Fatalf("read back %s %+v, want both versions as written", table, q)
	}
	var extra struct {
		Run string    `json:"run"`
		At  time.Time `json:"at"`
	}
	if err := json.Unmarshal(line, &extra); err != nil || extra.Run != "run-1" || !extra.At.Equal(at) {
		t.Fatalf("run and time: %+v, %v", extra, err)
	}
	if !strings.Contains(srcCol, `"writetime":5`) || !strings.Contains(dstCol, `"writetime":6`) {
		t.Fatalf("table columns are not merge's form: source %s, destination %s", srcCol, dstCol)
	}
}

// Two Jobs on one registry share forklift's series; a registry holding another series under one of
// forklift's names is refused, not silently left unexported.
func TestMetricsOnASharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newMetrics(reg)
	if err != nil {
		t.Fatalf("second Job on the registry: %v", err)
	}
	if a.rows != b.rows {
		t.Fatal("the second Job counts rows in a series of its own, not exported")
	}
	clash := prometheus.NewRegistry()
	clash.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "islands_forklift_rows_total", Help: "someone else's"}))
	if _, err := newMetrics(clash); !errors.Is(err, ErrConfig) {
		t.Fatalf("a clashing series: %v, want ErrConfig", err)
	}
}
