package demo

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/gocql/gocql"

	"golang.org/x/sync/errgroup"

	"github.com/globalcloud/islands/cachesync"
	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/internal/lab"
	"github.com/globalcloud/islands/internal/lab/world"
)

var cacheRules = cachesync.Rules{Default: cachesync.Invalidate, Rules: []cachesync.Rule{{Prefix: "profile:", Mode: cachesync.Replicate}}}

// startCaches empties every region's queue and cache and starts, per region, the cache client
// (publishing to each other region's queue on that region's SQS server, through the WAN, with a
// durable spill for when the WAN is cut) and an agent applying, from its own region's queue on its
// own server, the other regions' events.
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
				if d.outage.Load() && (r == us || ev.Version.Origin == regionNames[us]) {
					d.outageEv.Add(1) // held back by the isolation: its lag is the outage, not the path
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
	d.say("cache sync: each region publishes to every other region's queue through the WAN; profiles replicate, viewing histories invalidate")
	return nil
}

// published is how many events region r's publisher sent, to every other region.
func published(r *lab.Region) int64 {
	if p := r.Publisher(); p != nil {
		return p.Sent()
	}
	return 0
}

// queuesEmpty waits until no publisher is sending or holds a spilled event and every region's queue
// holds nothing (visible, in flight or delayed).
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

// flipAndEvacuate is the end of the migration and the proof: the operator flips the EU
// instances' reads to the global keyspace and then their writes, through the control plane, and
// the island is retired (no dual writes remain); every region writes the global keyspace in its own
// datacenter; then us-east-1 is evacuated and brought back.
func (d *run) flipAndEvacuate(ctx context.Context, apps []*app) error {
	o := d.opts
	done := d.step("6. flips through the control plane: the EU instances read, then write, the global keyspace only; the EU island retired")
	for _, dw := range d.dws {
		if err := dw.WaitReplayed(ctx); err != nil {
			return err
		}
	}
	for _, p := range []string{"dual-flipped", "secondary-only"} {
		if err := d.ctl.set(ctx, p); err != nil {
			return err
		}
	}
	for _, dw := range d.dws {
		d.rep.Flip.DualWrites += dw.Stats().Writes
	}
	// The end state: the EU application is an ordinary client of the global cluster in its own
	// datacenter (its instances restarted without dualwrite: they leave the migration's fleet);
	// the island is dropped.
	euGlobal, err := d.region[eu].Session(cqlconn.RoleApp)
	if err != nil {
		return fmt.Errorf("%s's application on the global cluster: %w", regionNames[eu], err)
	}
	apps[eu] = d.plainApp(eu, euGlobal)
	d.ctl.retire()
	if err := d.island.Query("DROP KEYSPACE " + islandKS).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("retire the EU island: drop %s: %w", islandKS, err)
	}
	d.say("EU island retired (%s dropped); the applications write demo_global in their own datacenter, Cassandra replicates", islandKS)
	d.rec.instant("flip", "EU island retired")
	end := d.rec.phase("traffic", "us-east-1 and eu-west-1 write the global keyspace in their own DC")
	d.driveFor(ctx, d.steady(apps), o.trafficTime()/2, 2)
	end()
	var after int64
	for _, dw := range d.dws {
		after += dw.Stats().Writes
	}
	d.rep.check("end state: no application-level dual writes (the EU application writes the global cluster only, island retired)",
		after == d.rep.Flip.DualWrites, fmt.Sprintf("%d writes through dualwrite after the flip", after-d.rep.Flip.DualWrites))
	ok, detail := d.rep.Control.verdict()
	d.rep.check("control plane: every EU instance applied every phase the operator set, and set --wait returned only then", ok, detail)
	done()

	if err := d.evacuate(ctx, apps); err != nil {
		return err
	}
	return d.catchUp(ctx)
}

// evacuate is step 7. A planned evacuation of us-east-1: its application stops; before the cut,
// what us-east-1 acknowledged at LOCAL_QUORUM must have reached the regions that take its members
// — Cassandra replicates across regions asynchronously, so a write acknowledged in the last
// moments before an unplanned cut would be in us-east-1 only until it returns. Then us-east-1 is
// isolated from both other regions (the WAN partition of one region) and its Cassandra and
// memcached killed; its members are split by capacity (Options.EvacuationShare) between eu-west-1
// and us-west-2, each of which serves its share, and checked: every member served correctly from
// the region that took it.
func (d *run) evacuate(ctx context.Context, apps []*app) error {
	o := d.opts
	share := split(d.home(us), o.EvacuationShare)
	var parts []string
	for _, r := range world.Regions {
		if ms := share[r]; len(ms) > 0 {
			parts = append(parts, fmt.Sprintf("%d to %s", len(ms), r))
		}
	}
	done := d.step("7. evacuate us-east-1: isolated from both regions, its Cassandra and memcached killed; its members split " +
		shareString(o.EvacuationShare) + " between the others")
	t0 := time.Now()
	end := d.rec.phase("activity", "us-east-1's replication and cache events reach the other regions")
	if err := d.drained(ctx); err != nil {
		return err
	}
	end()
	d.rep.Evacuation.DrainSeconds = time.Since(t0).Seconds()
	d.say("replication and cache events from us-east-1 reached the other regions (%.1fs): isolating us-east-1", d.rep.Evacuation.DrainSeconds)
	d.outage.Store(true)
	if err := d.isolate(ctx, world.USEast1); err != nil {
		return err
	}
	for _, svc := range []string{"cassandra-us", "memcached-us"} {
		if _, err := d.regions("kill", svc); err != nil {
			return err
		}
	}
	d.rep.Evacuation.Killed = []string{"cassandra-us", "memcached-us"}
	d.rep.Evacuation.Partitioned, d.rep.Evacuation.Isolated = true, string(world.USEast1)
	d.rep.Evacuation.Share = shareString(o.EvacuationShare)
	evStart := time.Now()
	acked0 := d.stats.Acked.Load()
	// Who serves whom: eu-west-1 its own members and its share of us-east-1's, us-west-2 its share.
	served := map[int][]member{eu: d.home(eu)}
	for r, ms := range share {
		i := slices.Index(world.Regions, r)
		served[i] = append(served[i], ms...)
	}
	var lat []*samples
	var ls []load
	var order []int
	for _, r := range []int{eu, usw} {
		if len(served[r]) == 0 {
			continue
		}
		s := &samples{}
		a := *apps[r]
		a.latency = func(t time.Duration) { s.add("", float64(t.Microseconds())/1000) }
		// Each region's rate follows the members it serves (a region's application at its usual
		// rate serves its own members).
		rate := d.k.rate * float64(len(served[r])) / float64(max(1, len(d.home(eu))))
		ls = append(ls, load{&a, served[r], rate, d.k.workers})
		lat = append(lat, s)
		order = append(order, r)
	}
	end = d.rec.phase("traffic", "eu-west-1 and us-west-2 serve every member ("+strings.Join(parts, ", ")+" of us-east-1's)")
	d.driveFor(ctx, ls, o.trafficTime(), 3)
	end()
	d.rep.Evacuation.WritesDuringOutage = d.stats.Acked.Load() - acked0
	d.say("%d writes acknowledged in eu-west-1 and us-west-2 (LOCAL_QUORUM) during the outage (us-east-1's members: %s)",
		d.rep.Evacuation.WritesDuringOutage, strings.Join(parts, ", "))
	// The member checks read as the application would serve the members (its role), each region
	// alone (a session filtered to its datacenter), through its own cache, at the same time.
	results := make([]*CheckResult, len(order))
	end = d.rec.phase("activity", "check every member in the region that serves it")
	var g errgroup.Group
	for i, r := range order {
		g.Go(func() error {
			s, err := d.localOnly(r, cqlconn.RoleApp)
			if err != nil {
				return fmt.Errorf("connect to %s alone: %w", regionNames[r], err)
			}
			defer s.Close()
			ck := &checker{region: r, s: s, cache: d.region[r].Cache(), fill: true, m: d.m, members: served[r]}
			res, err := ck.run(ctx)
			results[i] = res
			return err
		})
	}
	err := g.Wait()
	end()
	if err != nil {
		return err
	}
	total := &CheckResult{Region: "eu-west-1 and us-west-2"}
	for i, r := range order {
		res := results[i]
		er := EvacRegion{Region: regionNames[r], FromUSEast1: len(share[world.Regions[r]]), Members: len(served[r]),
			Writes: percentiles(lat[i].get("")), Check: res}
		if w := o.EvacuationShare[world.Regions[r]]; w > 0 {
			er.Weight = w
		}
		d.rep.Evacuation.Regions = append(d.rep.Evacuation.Regions, er)
		total.Members += res.Members
		total.Served += res.Served
		total.Wrong += res.Wrong
		total.CacheHits += res.CacheHits
		total.CacheFills += res.CacheFills
		total.StaleFromCache += res.StaleFromCache
		total.Seconds = max(total.Seconds, res.Seconds)
		total.Samples = append(total.Samples, res.Samples...)
		d.say("%s served %d of %d members correctly (%d of them us-east-1's; %d cache hits, %d fills, %d stale from the cache) in %.1fs; writes %s; reads %s",
			res.Region, res.Served, res.Members, er.FromUSEast1, res.CacheHits, res.CacheFills, res.StaleFromCache, res.Seconds, er.Writes, res.Reads)
		d.rep.check(fmt.Sprintf("evacuation: %s alone serves its %d members (%d of us-east-1's) at LOCAL_QUORUM, nothing stale from the cache", res.Region, res.Members, er.FromUSEast1),
			res.Served == res.Members && res.StaleFromCache == 0, fmt.Sprintf("%d/%d members", res.Served, res.Members))
	}
	for _, s := range total.Samples {
		d.say("  WRONG: %s", s)
	}
	d.rep.Evacuation.Check = total
	all := total.Members == len(d.m.members)
	d.rep.check("evacuation: every member is served by exactly one of eu-west-1 and us-west-2", all,
		fmt.Sprintf("%d of %d members assigned", total.Members, len(d.m.members)))
	d.rep.Evacuation.Seconds = time.Since(evStart).Seconds()
	done()
	return nil
}

// catchUp is step 8: the WAN heals, us-east-1's memcached and Cassandra restart, the other
// regions' hints for it are delivered, nodetool repair runs on its node, the cache events held by
// the isolation land; then us-east-1 alone is checked member by member.
func (d *run) catchUp(ctx context.Context) error {
	done := d.step("8. us-east-1 back: heal, restart, hints, nodetool repair, cache events land")
	t0 := time.Now()
	if err := d.heal(ctx, world.USEast1); err != nil {
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
	end := d.rec.phase("activity", "hints delivered to us-east-1")
	var g errgroup.Group
	var hinted atomic.Int32
	for _, r := range []int{eu, usw} {
		g.Go(func() error {
			s, err := d.localOnly(r, cqlconn.RoleAdmin)
			if err != nil {
				return fmt.Errorf("connect to %s alone: %w", regionNames[r], err)
			}
			defer s.Close()
			ok, err := d.hintsDelivered(rctx, s, regionNames[r], time.Minute)
			if ok {
				hinted.Add(1)
			}
			return err
		})
	}
	err := g.Wait()
	end()
	if err != nil {
		return err
	}
	d.rep.CatchUp.HintsSeconds = time.Since(t1).Seconds()
	d.say("hints from eu-west-1 and us-west-2 for us-east-1: %s in %.1fs", map[bool]string{true: "delivered", false: "not all delivered (repair follows)"}[hinted.Load() == 2], d.rep.CatchUp.HintsSeconds)
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
	ck := &checker{region: us, s: usOnly, cache: d.region[us].Cache(), fill: false, m: d.m, members: d.m.members}
	end = d.rec.phase("activity", "check every member in us-east-1")
	res, err := ck.run(ctx)
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

// drained waits until us-east-1 has handed the other regions everything it acknowledged: a marker
// written in us-east-1 after the traffic stopped is visible in each of them (the inter-DC
// connection is ordered), us-east-1 holds no hints, and no cache event is on its way.
func (d *run) drained(ctx context.Context) error {
	k := -int(time.Since(d.start).Milliseconds()) - 1 // below every visibility probe's key
	usAdmin, err := d.admin(us)
	if err != nil {
		return err
	}
	if err := usAdmin.Query("INSERT INTO "+scratchKS+".probes (run, k, v) VALUES (?, ?, 'marker')", d.start.UnixNano(), k).Consistency(gocql.LocalOne).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("drain marker in us-east-1: %w", err)
	}
	for _, r := range []int{eu, usw} {
		admin, err := d.admin(r)
		if err != nil {
			return err
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			var v string
			err := admin.Query("SELECT v FROM "+scratchKS+".probes WHERE run = ? AND k = ?", d.start.UnixNano(), k).Consistency(gocql.LocalOne).WithContext(ctx).Scan(&v)
			if err == nil {
				break
			}
			if err != gocql.ErrNotFound {
				return fmt.Errorf("drain marker in %s: %w", regionNames[r], err)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("drain marker written in us-east-1 not in %s after 30s", regionNames[r])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if ok, err := d.hintsDelivered(ctx, usAdmin, regionNames[us], 30*time.Second); err != nil || !ok {
		return fmt.Errorf("us-east-1 still holds hints for the other regions after 30s (%v)", err)
	}
	return d.queuesEmpty(ctx, time.Minute)
}

// hintsDelivered waits, at most limit, until the node s reads (region's own datacenter's) holds
// no hints for another node.
func (d *run) hintsDelivered(ctx context.Context, s *gocql.Session, region string, limit time.Duration) (bool, error) {
	deadline := time.Now().Add(limit)
	for {
		iter := s.Query("SELECT files FROM system_views.pending_hints").WithContext(ctx).Iter()
		var files, pending int
		for iter.Scan(&files) {
			pending += files
		}
		if err := iter.Close(); err != nil {
			return false, fmt.Errorf("read system_views.pending_hints in %s: %w", region, err)
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
