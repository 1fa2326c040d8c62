package forklift_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/forklift"
)

// Running a forklift job from code: the same Config the YAML file holds, opened once, then run
// (resumable: checkpoints in the destination) and verified under each table's resolver.
func Example() {
	ctx := context.Background()
	cfg := forklift.Config{
		Source: forklift.ClusterConfig{
			Hosts:   []string{"cassandra-eu-island.example.internal:9042"},
			LocalDC: "eu-west-1",
			Access: cqlconn.Access{Username: "islands_forklift", PasswordFile: "/var/run/secrets/islands/source/password",
				TLS: cqlconn.TLS{Enabled: true, CAFile: "/var/run/secrets/islands/ca/ca.pem"}},
		},
		Destination: forklift.ClusterConfig{
			Hosts:   []string{"cassandra-global.example.internal:9042"},
			LocalDC: "eu-west-1",
			Access: cqlconn.Access{Username: "islands_forklift", PasswordFile: "/var/run/secrets/islands/destination/password",
				TLS: cqlconn.TLS{Enabled: true, CAFile: "/var/run/secrets/islands/ca/ca.pem"}},
		},
		Tables: []forklift.TableConfig{
			{Keyspace: "island", Table: "profiles", DestinationKeyspace: "global", Resolver: "lww"},
			{Keyspace: "island", Table: "bookmarks", DestinationKeyspace: "global", Resolver: "newest-by",
				Options: map[string]any{"column": "updated_at"}},
		},
		RunID: "eu-island-2026-12",
	}
	if err := cfg.Validate(); err != nil { // errors.Is(err, forklift.ErrConfig); nothing contacted yet
		log.Fatal(err)
	}
	job, err := forklift.Open(ctx, cfg, forklift.WithLogger(slog.Default()), forklift.WithRegisterer(prometheus.DefaultRegisterer))
	if err != nil {
		log.Fatal(err)
	}
	defer job.Close()

	// Resume continues the run's checkpoints after a crash; Shard makes this process one of N
	// sharing the run (a Kubernetes Indexed Job gives each pod its index).
	run, err := job.Run(ctx, forklift.RunOptions{Resume: true, Shard: forklift.Shard{Index: 0, Count: 1}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("copied %d rows at %.0f rows/s\n", run.Rows, run.RowsPerSec)

	ver, err := job.Verify(ctx, forklift.VerifyOptions{})
	if errors.Is(err, forklift.ErrDifferences) {
		fmt.Printf("%d missing, %d mismatched cells: run job.Repair\n", ver.Missing, ver.Mismatch)
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("clean:", ver.Clean)
}

// N processes share one run by shard: each owns the token ranges i, i+N, i+2N, … of the run's
// split of the ring, and all of them checkpoint into the same table.
func ExampleParseShard() {
	ranges := forklift.FullRing.Split(8)
	for _, spec := range []string{"0/4", "1/4", "3/4", "4/4"} {
		s, err := forklift.ParseShard(spec)
		if err != nil {
			fmt.Println(spec, "refused, a configuration error:", errors.Is(err, forklift.ErrConfig))
			continue
		}
		var owned []int
		for i := range ranges {
			if s.Owns(i) {
				owned = append(owned, i)
			}
		}
		fmt.Println(spec, "owns ranges", owned)
	}
	// Output:
	// 0/4 owns ranges [0 4]
	// 1/4 owns ranges [1 5]
	// 3/4 owns ranges [3 7]
	// 4/4 refused, a configuration error: true
}
