package demo

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cachesync"
	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/dualwrite"
	"github.com/globalcloud/islands/internal/lab"
)

var cacheRules = cachesync.Rules{Default: cachesync.Invalidate, Rules: []cachesync.Rule{{Prefix: "profile:", Mode: cachesync.Replicate}}}

// startCaches empties both regions' queues and caches and starts, per region, the cache client
// (publishing to the other region's queue on the other region's SQS server, through the WAN, with
// a durable spill for when the WAN is cut) and an agent applying, from its own region's queue on
// its own server, the other region's events.
func (d *run) startCaches(ctx context.Context) error {
	for _, reg := range d.region {
		url, err := reg.QueueURL(ctx)
		if err != nil {
			return err
		}
		if _, err := reg.SQS.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)}); err != nil {
			return fmt.Errorf("purge %s in %s: %w", url, reg.Name, err)
		}
		reg.Memcached.DeleteAll()
	}
	for r, reg := range d.region {
		ao := cachesync.AgentOptions{WaitSeconds: 1, RetryDelay: 1,
			OnApplied: func(ev *cachesync.Event, applied bool, lag time.Duration) {
				if d.outage.Load() {
					d.outageEv.Add(1) // held back by the outage: its lag is the outage, not the path
					return
				}
				if applied {
					d.lagApplied(lag)
				}
			}}
		if err := reg.StartCache(ctx, lab.CacheOptions{Rules: cacheRules, Agent: ao,
			SpillDir: filepath.Join(d.opts.Out, "spill-"+regionNames[r])}); err != nil {
			return err
		}
		d.rec.rate("cache-events", "published", regionNames[r], func() float64 { return float64(published(reg)) })
		a := reg.Agent()
		d.rec.rate("cache-events", "applied", regionNames[r], func() float64 { return float64(a.Stats().Applied.Load()) })
	}
	d.say("cache sync: each region publishes to the other's queue through the WAN; profiles replicate, viewing histories invalidate")
	return nil
}

// published is how many events region r's publisher sent, to every other region.
func published(r *lab.Region) int64 {
	if p := r.Publisher(); p != nil {
		return p.Sent()
	}
	return 0
}

// queuesEmpty waits until no publisher is sending or holds a spilled event and both queues hold
// nothing (visible, in flight or delayed).
func (d *run) queuesEmpty(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	streak, sent := 0, int64(-1)
	for streak < 3 {
		if time.Now().After(deadline) {
			return fmt.Errorf("cache events still queued after %s", limit)
		}
		empty := true
		var now int64
		for _, reg := range d.region {
			now += published(reg)
		}
		if now != sent {
			empty, sent = false, now // a publisher still sending from its buffer
		}
		for _, reg := range d.region {
			if p := reg.Publisher(); p != nil {
				if _, pending := p.Spilled(); pending > 0 {
					empty = false
				}
			}
			q, err := reg.QueueURL(ctx)
			if err != nil {
				return err
			}
			out, err := reg.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q),
				AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
					types.QueueAttributeNameApproximateNumberOfMessagesNotVisible, types.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
			if err != nil {
				return err
			}
			for _, v := range out.Attributes {
				if v != "0" {
					empty = false
				}
			}
		}
		if empty {
			streak++
		} else {
			streak = 0
		}
		time.Sleep(500 * time.Millisecond)
	}
	return nil
}

// flipAndEvacuate is the end of the migration and the proof: the EU application's reads flip to
// the global keyspace and the island is retired (no dual writes remain), both regions write the
// global keyspace in their own datacenter, then us-east-1 is evacuated and brought back.
func (d *run) flipAndEvacuate(ctx context.Context, apps []*app) error {
	o := d.opts
	done := d.step("6. flips: the EU application reads, then writes, the global keyspace only; the EU island retired")
	dw := apps[eu].dw
	if err := dw.WaitReplayed(ctx); err != nil {
		return err
	}
	for _, p := range []dualwrite.Phase{dualwrite.DualFlipped, dualwrite.SecondaryOnly} {
		if err := dw.SetPhaseWait(ctx, p); err != nil {
			return fmt.Errorf("dualwrite phase %s: %w", p, err)
		}
		d.say("EU application: dualwrite phase %s", p)
		d.rec.instant("flip", map[dualwrite.Phase]string{dualwrite.DualFlipped: "flip: the EU application reads the global keyspace",
			dualwrite.SecondaryOnly: "flip: the EU application writes the global keyspace only"}[p])
	}
	d.rep.Flip.DualWrites = dw.Stats().Writes
	// The end state: the EU application is an ordinary client of the global cluster in its own
	// datacenter; the island is dropped.
	euGlobal, err := d.region[eu].Session(cqlconn.RoleApp)
	if err != nil {
		return fmt.Errorf("%s's application on the global cluster: %w", regionNames[eu], err)
	}
	apps[eu] = &app{region: eu, w: cqlWriter{euGlobal}, cache: d.region[eu].Cache(), ks: globalKS, m: d.m, stats: &d.stats, log: apps[eu].log}
	if err := d.island.Query("DROP KEYSPACE " + islandKS).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("retire the EU island: drop %s: %w", islandKS, err)
	}
	d.say("EU island retired (%s dropped); both applications write demo_global in their own datacenter, Cassandra replicates", islandKS)
	d.rec.instant("flip", "EU island retired")
	end := d.rec.phase("traffic", "both regions write the global keyspace in their own DC")
	d.trafficFor(ctx, apps, [][]member{d.home(us), d.home(eu)}, o.trafficTime()/2)
	end()
	after := dw.Stats().Writes
	d.rep.check("end state: no application-level dual writes (the EU application writes the global cluster only, island retired)",
		after == d.rep.Flip.DualWrites, fmt.Sprintf("%d writes through dualwrite after the flip", after-d.rep.Flip.DualWrites))
	done()

	done = d.step("7. evacuate us-east-1: WAN partition, its Cassandra and memcached killed; eu-west-1 serves everyone")
	// A planned evacuation: us-east-1's traffic has moved to eu-west-1 (its application stopped
	// above); before the cut, what us-east-1 acknowledged at LOCAL_QUORUM must have reached
	// eu-west-1 — Cassandra replicates across regions asynchronously, so a write acknowledged in the
	// last moments before an unplanned cut would be in us-east-1 only until it returns.
	t0 := time.Now()
	end = d.rec.phase("activity", "us-east-1's replication and cache events reach eu-west-1")
	if err := d.drained(ctx); err != nil {
		return err
	}
	end()
	d.rep.Evacuation.DrainSeconds = time.Since(t0).Seconds()
	d.say("replication and cache events from us-east-1 reached eu-west-1 (%.1fs): cutting the WAN", d.rep.Evacuation.DrainSeconds)
	d.outage.Store(true)
	if err := d.partition(ctx); err != nil {
		return err
	}
	for _, svc := range []string{"cassandra-us", "memcached-us"} {
		if _, err := d.regions("kill", svc); err != nil {
			return err
		}
	}
	d.rep.Evacuation.Killed = []string{"cassandra-us", "memcached-us"}
	d.rep.Evacuation.Partitioned = true
	evStart := time.Now()
	acked0 := d.stats.Acked.Load()
	end = d.rec.phase("traffic", "eu-west-1 serves every member")
	// eu-west-1 serves every member: the evacuated region's application is stopped.
	served, members := make([]*app, len(apps)), make([][]member, len(apps))
	served[eu], members[eu] = apps[eu], d.m.members
	d.trafficFor(ctx, served, members, o.trafficTime())
	end()
	d.rep.Evacuation.WritesDuringOutage = d.stats.Acked.Load() - acked0
	d.say("%d writes acknowledged in eu-west-1 (LOCAL_QUORUM) during the outage", d.rep.Evacuation.WritesDuringOutage)
	// The member checks read as the application would serve the members (its role); the hints
	// are the demo's own look into the node (the administrator's).
	euApp, err := d.localOnly(eu, cqlconn.RoleApp)
	if err != nil {
		return fmt.Errorf("connect to eu-west-1 alone: %w", err)
	}
	defer euApp.Close()
	euOnly, err := d.localOnly(eu, cqlconn.RoleAdmin)
	if err != nil {
		return fmt.Errorf("connect to eu-west-1 alone: %w", err)
	}
	defer euOnly.Close()
	ck := &checker{region: eu, s: euApp, cache: d.region[eu].Cache(), fill: true, m: d.m}
	end = d.rec.phase("activity", "check every member in eu-west-1")
	res, err := ck.run(ctx)
	end()
	if err != nil {
		return err
	}
	d.rep.Evacuation.Check = res
	d.say("eu-west-1 served %d of %d members correctly (%d cache hits, %d fills, %d stale from the cache) in %.1fs",
		res.Served, res.Members, res.CacheHits, res.CacheFills, res.StaleFromCache, res.Seconds)
	for _, s := range res.Samples {
		d.say("  WRONG: %s", s)
	}
	d.rep.check("evacuation: eu-west-1 alone serves every member at LOCAL_QUORUM, nothing stale from the cache",
		res.Served == res.Members && res.StaleFromCache == 0, fmt.Sprintf("%d/%d members", res.Served, res.Members))
	d.rep.Evacuation.Seconds = time.Since(evStart).Seconds()
	done()

	done = d.step("8. us-east-1 back: heal, restart, hints, nodetool repair, cache events land")
	t0 = time.Now()
	if err := d.heal(ctx); err != nil {
		return err
	}
	for _, svc := range []string{"memcached-us", "cassandra-us"} {
		if _, err := d.regions("restart", svc); err != nil {
			return err
		}
	}
	d.rep.CatchUp.RestartSeconds = time.Since(t0).Seconds()
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	t1 := time.Now()
	end = d.rec.phase("activity", "hints delivered to us-east-1")
	hinted, err := d.hintsDelivered(rctx, euOnly, time.Minute)
	end()
	if err != nil {
		return err
	}
	d.rep.CatchUp.HintsSeconds = time.Since(t1).Seconds()
	d.say("hints from eu-west-1 for us-east-1: %s in %.1fs", map[bool]string{true: "delivered", false: "not all delivered (repair follows)"}[hinted], d.rep.CatchUp.HintsSeconds)
	t2 := time.Now()
	end = d.rec.phase("activity", "nodetool repair (us-east-1)")
	if _, err := d.regions("nodetool", "cassandra-us", "repair", "-full", globalKS); err != nil {
		return err
	}
	end()
	d.rep.CatchUp.RepairSeconds = time.Since(t2).Seconds()
	d.say("nodetool repair -full %s on us-east-1's node: %.1fs", globalKS, d.rep.CatchUp.RepairSeconds)
	end = d.rec.phase("activity", "cache queues drain")
	if err := d.queuesEmpty(rctx, 2*time.Minute); err != nil {
		return err
	}
	end()
	d.rep.CatchUp.DrainSeconds = time.Since(t1).Seconds()
	d.outage.Store(false)
	d.say("cache events of the outage delivered through the WAN and applied; queues empty %.1fs after the restart", d.rep.CatchUp.DrainSeconds)
	// The checker's sessions are new: the old ones saw the node die (gocql brings a restarted node
	// back into a pool only after its reconnect interval); they read us-east-1's datacenter alone.
	d.region[us].CloseSession(cqlconn.RoleAdmin)
	var usOnly *gocql.Session
	for i := 0; i < 30; i++ {
		if usOnly, err = d.localOnly(us, cqlconn.RoleApp); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return fmt.Errorf("reconnect to us-east-1 after its restart: %w", err)
	}
	defer usOnly.Close()
	ck = &checker{region: us, s: usOnly, cache: d.region[us].Cache(), fill: false, m: d.m}
	end = d.rec.phase("activity", "check every member in us-east-1")
	res, err = ck.run(ctx)
	end()
	if err != nil {
		return err
	}
	d.rep.CatchUp.Check = res
	for _, s := range res.Samples {
		d.say("  WRONG: %s", s)
	}
	d.say("us-east-1 holds every member's data: %d of %d (%d cache hits, %d stale)", res.Served, res.Members, res.CacheHits, res.StaleFromCache)
	d.rep.check("catch-up: us-east-1 alone holds every write made during the outage (hints, repair), cache not stale",
		res.Served == res.Members && res.StaleFromCache == 0, fmt.Sprintf("%d/%d members", res.Served, res.Members))
	d.collectFigures()
	done()
	return nil
}

// drained waits until us-east-1 has handed eu-west-1 everything it acknowledged: a marker written
// in us-east-1 after the traffic stopped is visible in eu-west-1 (the inter-DC connection is
// ordered), us-east-1 holds no hints, and no cache event is on its way.
func (d *run) drained(ctx context.Context) error {
	k := -int(time.Now().UnixMilli() % 1_000_000_000)
	usAdmin, err := d.admin(us)
	if err != nil {
		return err
	}
	euAdmin, err := d.admin(eu)
	if err != nil {
		return err
	}
	if err := usAdmin.Query("INSERT INTO "+scratchKS+".vis (k, v) VALUES (?, 'marker')", k).Consistency(gocql.LocalOne).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("drain marker in us-east-1: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var v string
		err := euAdmin.Query("SELECT v FROM "+scratchKS+".vis WHERE k = ?", k).Consistency(gocql.LocalOne).WithContext(ctx).Scan(&v)
		if err == nil {
			break
		}
		if err != gocql.ErrNotFound {
			return fmt.Errorf("drain marker in eu-west-1: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("drain marker written in us-east-1 not in eu-west-1 after 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if ok, err := d.hintsDelivered(ctx, usAdmin, 30*time.Second); err != nil || !ok {
		return fmt.Errorf("us-east-1 still holds hints for eu-west-1 after 30s (%v)", err)
	}
	return d.queuesEmpty(ctx, time.Minute)
}

// hintsDelivered waits, at most limit, until the node s reads (its own datacenter's) holds no
// hints for the other datacenter's node.
func (d *run) hintsDelivered(ctx context.Context, s *gocql.Session, limit time.Duration) (bool, error) {
	deadline := time.Now().Add(limit)
	for {
		iter := s.Query("SELECT files FROM system_views.pending_hints").WithContext(ctx).Iter()
		var files, pending int
		for iter.Scan(&files) {
			pending += files
		}
		if err := iter.Close(); err != nil {
			return false, fmt.Errorf("read system_views.pending_hints in eu-west-1: %w", err)
		}
		if pending == 0 {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// trafficFor runs the given regions' applications for dur.
func (d *run) trafficFor(ctx context.Context, apps []*app, members [][]member, dur time.Duration) {
	tctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var wg sync.WaitGroup
	for r, a := range apps {
		if a == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.traffic(tctx, members[r], d.rate(), 8, uint64(10+r))
		}()
	}
	wg.Wait()
}

// collectFigures gathers dual-write and cache figures for the report.
func (d *run) collectFigures() {
	var dw DualWriteFigures
	for _, s := range d.dws {
		st := s.Stats()
		dw.Writes += st.Writes
		dw.Acknowledged += st.Acknowledged
		dw.KeptForReplay += st.Logged
		dw.Replayed += st.Replayed
	}
	dw.Failed = d.stats.Failed.Load()
	d.rep.DualWrite = dw
	var c CacheFigures
	for _, reg := range d.region {
		a := reg.Agent()
		if a == nil {
			continue
		}
		st := a.Stats()
		c.Received += st.Received.Load()
		c.Applied += st.Applied.Load()
		c.Stale += st.Stale.Load()
		c.Poison += st.Poison.Load()
		c.ApplyRetries += st.ApplyErrors.Load()
		c.Published += published(reg)
	}
	d.lagMu.Lock()
	c.LagMs = append([]float64(nil), d.lags...)
	d.lagMu.Unlock()
	c.CacheWrites = d.stats.CacheWrites.Load()
	c.HeldByOutage = d.outageEv.Load()
	d.rep.Cache = c
	d.finishDistance()
}
