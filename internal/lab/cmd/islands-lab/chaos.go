package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/globalcloud/islands/internal/lab/chaos"
)

// chaosCmd is `islands-lab chaos`: the seeded fault campaign (make chaos).
func chaosCmd(args []string) int {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	seed := fs.Uint64("seed", 0, "first seed (0 = one from the clock, printed)")
	seeds := fs.Int("seeds", 1, "how many seeds to run, seed, seed+1, …")
	duration := fs.Duration("duration", 60*time.Second, "workload and faults per seed")
	rate := fs.Int("rate", 80, "operations per second per writer (four writers: us-east-1, us-west-2, two in eu-west-1)")
	keys := fs.Int("keys", 40, "rows and cache keys the workload touches")
	maxFault := fs.Duration("max-fault", 8*time.Second, "longest pause or outage")
	kinds := fs.String("kinds", "", "comma-separated fault kinds to use (pause,kill,kill-disk,skew,phase,forklift,partition,latency,sqs-cut); empty = every kind the world offers (the replay command names them)")
	targets := fs.String("targets", "", "comma-separated fault targets to use (cassandra-eu-global,writer-eub,migration,eu-west-1,isolate-us-west-2…); empty = all")
	killCass := fs.Bool("kill-cassandra", false, "also kill -9 and restart Cassandra nodes (slow restarts)")
	out := fs.String("out", "chaos-out", "directory of the runs (one subdirectory per seed)")
	binDir := fs.String("bin-dir", "", "where the forklift program is (default: beside this program)")
	drain := fs.Duration("drain-timeout", 30*time.Second, "how long writers wait for their replay logs at the end")
	callerWait := fs.Duration("caller-wait", 2*time.Second, "an acknowledged write slower than this with a healthy authoritative side is a violation")
	wan := fs.Bool("wan", true, "partition and latency faults through the world's WAN (ISLANDS_WAN), when the world has one")
	tombstoneTTL := fs.Duration("tombstone-ttl", 10*time.Second, "cachesync tombstones' lifetime, clients and agents")
	check := fs.String("check", "", "run the checker again over a finished run's directory (no service needed) and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *check != "" {
		rep, err := chaos.Recheck(*check, chaos.CheckOptions{CallerWait: *callerWait})
		if err != nil {
			fmt.Fprintln(os.Stderr, "islands-lab chaos:", err)
			return 2
		}
		rep.Print(os.Stdout)
		if !rep.OK() {
			return 1
		}
		return 0
	}
	env, err := chaos.EnvFromOS()
	if err != nil {
		fmt.Fprintln(os.Stderr, "islands-lab chaos:", err)
		return 2
	}
	var part chaos.Partitioner
	if w := os.Getenv("ISLANDS_WAN"); *wan && w != "" {
		part = chaos.NewWANPartitionerAt(w)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "islands-lab chaos:", err)
		return 2
	}
	if *binDir == "" {
		*binDir = filepath.Dir(self)
	}
	fk := filepath.Join(*binDir, "forklift")
	if _, err := os.Stat(fk); err != nil {
		fmt.Fprintf(os.Stderr, "islands-lab chaos: no forklift program at %s: forklift faults skipped\n", fk)
		fk = ""
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano()%1_000_000) + 1
	}
	var ks, ts []string
	if *kinds != "" {
		ks = strings.Split(*kinds, ",")
	}
	if *targets != "" {
		ts = strings.Split(*targets, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	bad := 0
	var failed []string
	for i := 0; i < *seeds && ctx.Err() == nil; i++ {
		s := *seed + uint64(i)
		rep, err := chaos.Run(ctx, chaos.Options{Seed: s, Duration: *duration, Rate: *rate, Keys: *keys, MaxFault: *maxFault,
			Kinds: ks, Targets: ts, KillCassandra: *killCass, Env: env, Dir: filepath.Join(*out, fmt.Sprintf("seed-%d", s)),
			IslandsBin: self, CachesyncBin: filepath.Join(*binDir, "cachesync"), ForkliftBin: fk,
			TombstoneTTL: *tombstoneTTL, DrainTimeout: *drain, CallerWait: *callerWait, Progress: os.Stdout, Partitioner: part})
		if rep != nil && err == nil {
			rep.Print(os.Stdout)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "islands-lab chaos: seed %d: %v\n", s, err)
			return 1
		}
		if !rep.OK() {
			bad++
			failed = append(failed, rep.Replay)
		}
	}
	fmt.Printf("\nchaos: %d seeds from %d, %d with violations\n", *seeds, *seed, bad)
	for _, f := range failed {
		fmt.Println("  replay:", f)
	}
	if bad > 0 {
		return 1
	}
	return 0
}

// chaosWriterCmd is `islands-lab chaos-writer`: the workload process the campaign starts, kills and
// restarts (not for people).
func chaosWriterCmd(args []string) int {
	fs := flag.NewFlagSet("chaos-writer", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "writer config (JSON, written by islands-lab chaos)")
	inc := fs.Int("incarnation", 0, "how many times this writer was started before")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	b, err := os.ReadFile(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "islands-lab chaos-writer:", err)
		return 2
	}
	var cfg chaos.WriterConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "islands-lab chaos-writer:", err)
		return 2
	}
	cfg.Incarnation = *inc
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := chaos.RunWriter(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "islands-lab chaos-writer:", err)
		return 1
	}
	return 0
}

// chaosAgentCmd is `islands-lab chaos-agent`: a region's cachesync agent as the campaign runs it,
// on the region's skewed clock (not for people).
func chaosAgentCmd(args []string) int {
	fs := flag.NewFlagSet("chaos-agent", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "agent config (JSON, written by islands-lab chaos)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	b, err := os.ReadFile(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "islands-lab chaos-agent:", err)
		return 2
	}
	var cfg chaos.AgentConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "islands-lab chaos-agent:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := chaos.RunAgent(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "islands-lab chaos-agent:", err)
		return 1
	}
	return 0
}
