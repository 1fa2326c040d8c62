// Command bench/merge puts the cost of resolving a partition next to the cost of copying it over
// CQL, in one run on the local regions: forklift copies a table of 10-row × 10-column partitions
// from us-east-1 to eu-west-1 with a read-merge-write resolver (union), and the same resolver
// resolves partitions of the same shape in memory. Target: resolving < 10% of copying. Writes
// bench/results/merge.json.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/forklift"
	"github.com/globalcloud/islands/internal/lab/world"
	"github.com/globalcloud/islands/merge"
)

const ks = "merge_bench"

func main() {
	parts := flag.Int("partitions", 3000, "10-row partitions in the table")
	out := flag.String("out", "bench/results/merge.json", "JSON output")
	flag.Parse()
	env, err := world.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	usAddr, euAddr := env.USCQL, env.EUCQL
	cols := make([]string, 10)
	for i := range cols {
		cols[i] = fmt.Sprintf("c%d", i)
	}
	src, dst := connect(usAddr), connect(euAddr)
	for _, s := range []*gocql.Session{src, dst} {
		must(s.Query("DROP KEYSPACE IF EXISTS " + ks).Exec())
		must(s.Query(localKeyspace(s, ks)).Exec())
		must(s.Query("CREATE TABLE " + ks + ".t (pk int, ck int, " + strings.Join(cols, " bigint, ") + " bigint, PRIMARY KEY (pk, ck))").Exec())
	}
	// The same partitions on both sides, each cell newer on one side or the other: every cell
	// conflicts, the costly case for a resolver.
	ins := "INSERT INTO " + ks + ".t (pk, ck, " + strings.Join(cols, ", ") + ") VALUES (?, ?" + strings.Repeat(", ?", 10) + ") USING TIMESTAMP ?"
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for side, s := range []*gocql.Session{src, dst} {
		for p := 0; p < *parts; p++ {
			for r := 0; r < 10; r++ {
				args := []any{p, r}
				for c := 0; c < 10; c++ {
					args = append(args, int64(side*1000+c))
				}
				args = append(args, int64(1000+side*((p+r)%2)*500))
				sem <- struct{}{}
				wg.Add(1)
				go func(s *gocql.Session, args []any) {
					defer func() { <-sem; wg.Done() }()
					must(s.Query(ins, args...).Exec())
				}(s, args)
			}
		}
	}
	wg.Wait()

	cfg := forklift.Defaults()
	admin := cqlconn.MustFromEnv(cqlconn.RoleAdmin) // as connect: the bench's keyspaces are its own
	cfg.Source = forklift.ClusterConfig{Hosts: []string{usAddr}, DisableHostLookup: true, Consistency: "ONE", Access: admin}
	cfg.Destination = forklift.ClusterConfig{Hosts: []string{euAddr}, DisableHostLookup: true, Consistency: "ONE", Access: admin}
	cfg.CheckpointKeyspace = "merge_bench_ckpt"
	cfg.Ranges, cfg.Workers = 64, 8
	cfg.RunID = fmt.Sprint("merge-bench-", time.Now().UnixNano())
	cfg.Tables = []forklift.TableConfig{{Keyspace: ks, Table: "t", Resolver: "union"}}
	job, err := forklift.Open(context.Background(), cfg)
	must(err)
	rep, err := job.Run(context.Background(), forklift.RunOptions{})
	must(err)
	must(job.Close())
	copyNs := rep.Seconds * 1e9 / float64(*parts)

	r, err := merge.New("union", nil)
	must(err)
	a, b := partition(0), partition(1)
	n := 20000
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if _, err := r.Resolve(a, b); err != nil {
			log.Fatal(err)
		}
	}
	resolveNs := float64(time.Since(t0).Nanoseconds()) / float64(n)
	ratio := resolveNs / copyNs
	fmt.Printf("copy a 10x10 partition over CQL with forklift (union, read-merge-write, 8 workers): %9.0f ns/partition (%d partitions in %.1fs)\n", copyNs, *parts, rep.Seconds)
	fmt.Printf("resolve a 10x10 partition in memory (union, every cell conflicting):               %9.0f ns/partition\n", resolveNs)
	fmt.Printf("resolve / copy = %.3f (target < 0.10)\n", ratio)
	js, _ := json.MarshalIndent(map[string]any{"copy_ns_per_partition": copyNs, "resolve_ns_per_partition": resolveNs,
		"resolve_over_copy": ratio, "partitions": *parts, "at": time.Now().UTC()}, "", "  ")
	must(os.WriteFile(*out, js, 0o644))
}

// partition builds one side of a 10×10 partition as forklift reads it.
func partition(side int) *merge.Partition {
	p := &merge.Partition{Key: [][]byte{be(1)}}
	for r := 0; r < 10; r++ {
		row := merge.Row{Clustering: [][]byte{be(int64(r))}}
		for c := 0; c < 10; c++ {
			row.Columns = append(row.Columns, merge.Column{Name: fmt.Sprintf("c%d", c), Present: true,
				Cell: merge.Cell{Value: be(int64(side*1000 + c)), WriteTime: int64(1000 + side*((r+c)%2)*500)}})
		}
		p.Rows = append(p.Rows, row)
	}
	return p
}

func be(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// connect opens a session as the local world's administrator (cqlconn.RoleAdmin, from the
// ISLANDS_CQL_* variables): a bench creates and drops its own keyspaces and measures throughput,
// not permissions, so it needs no role of its own.
func connect(addr string) *gocql.Session {
	c := gocql.NewCluster(addr)
	c.Consistency = gocql.One
	c.Timeout = 20 * time.Second
	c.DisableInitialHostLookup = true
	a, err := cqlconn.RoleAdmin.Apply(c)
	must(err)
	s, err := c.CreateSession()
	must(cqlconn.Explain(err, a, addr))
	return s
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// localKeyspace is the CREATE KEYSPACE of ks replicated once in the datacenter of the node s is
// connected to: ISLANDS_US_CQL is the global cluster's us-east-1 node, and a SimpleStrategy keyspace
// there would put half its rows in eu-west-1, behind the WAN.
func localKeyspace(s *gocql.Session, ks string) string {
	var dc string
	must(s.Query("SELECT data_center FROM system.local").Scan(&dc))
	return fmt.Sprintf("CREATE KEYSPACE %s WITH replication = {'class': 'NetworkTopologyStrategy', '%s': 1}", ks, dc)
}
