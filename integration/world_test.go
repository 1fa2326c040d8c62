package integration

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/internal/lab/world"
)

// globalSession opens an application's session on the global cluster from region r and closes it
// when the test ends.
func globalSession(t testing.TB, w world.Env, r world.Region, cl gocql.Consistency) *gocql.Session {
	t.Helper()
	c := withAccess(w.GlobalCluster(r), cqlconn.RoleAdmin)
	c.Consistency = cl
	s, err := c.CreateSession()
	if err != nil {
		t.Fatalf("connect to the global cluster from %s: %v", r, err)
	}
	t.Cleanup(s.Close)
	return s
}

// globalKeyspace drops and creates keyspace name replicated once in each datacenter, with table t.
func globalKeyspace(t testing.TB, s *gocql.Session, name string) {
	t.Helper()
	ddl(t, s, "DROP KEYSPACE IF EXISTS "+name)
	repl := "'class': 'NetworkTopologyStrategy'"
	for _, r := range world.Regions {
		repl += fmt.Sprintf(", '%s': 1", r.DC())
	}
	ddl(t, s, fmt.Sprintf("CREATE KEYSPACE %s WITH replication = {%s}", name, repl))
	ddl(t, s, "CREATE TABLE "+name+".t (k int PRIMARY KEY, v text)")
}

// visibleAt polls s (LOCAL_ONE in its own DC) until row k exists, for at most limit.
func visibleAt(s *gocql.Session, ks string, k int, limit time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		var v string
		err := s.Query("SELECT v FROM "+ks+".t WHERE k = ?", k).Consistency(gocql.LocalOne).Scan(&v)
		if err == nil {
			return time.Now(), true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Time{}, false
}

// TestWorldCrossDCVisibilityAfterOneWayDelay: a LOCAL_ONE write in one datacenter becomes visible in
// every other no sooner than the WAN's one-way delay, for every ordered pair of regions — the
// inter-DC traffic goes through the WAN, not around it.
func TestWorldCrossDCVisibilityAfterOneWayDelay(t *testing.T) {
	w := needWorld(t)
	const oneWay = 150 * time.Millisecond
	setWAN(t, w, oneWay, 0)
	const ks = "world_visibility"
	sessions := map[world.Region]*gocql.Session{}
	for _, r := range world.Regions {
		sessions[r] = globalSession(t, w, r, gocql.LocalOne)
	}
	globalKeyspace(t, sessions[world.USEast1], ks)
	k := 0
	for _, from := range world.Regions {
		for i := 0; i < 3*len(from.Others()); i++ {
			to := from.Others()[i%len(from.Others())]
			k++
			t0 := time.Now()
			if err := sessions[from].Query("INSERT INTO "+ks+".t (k, v) VALUES (?, ?)", k, string(from)).Exec(); err != nil {
				t.Fatalf("write in %s: %v", from, err)
			}
			acked := time.Since(t0)
			at, ok := visibleAt(sessions[to], ks, k, 20*time.Second)
			if !ok {
				t.Fatalf("row %d written in %s is not visible in %s after 20s", k, from, to)
			}
			lag := at.Sub(t0)
			t.Logf("%s -> %s: write acked in %v, visible after %v", from, to, acked, lag)
			if lag < oneWay {
				t.Errorf("row %d written in %s was visible in %s after %v, before the WAN's one-way delay %v: replication bypasses the WAN",
					k, from, to, lag, oneWay)
			}
		}
	}
}

// TestWorldPartitionStopsReplicationHealResumes: while the WAN is cut, writes in us-east-1 do not
// reach eu-west-1; after the heal, hints deliver every one of them.
func TestWorldPartitionStopsReplicationHealResumes(t *testing.T) {
	w := needWorld(t)
	setWAN(t, w, 35*time.Millisecond, 5*time.Millisecond)
	const ks, n = "world_partition", 50
	us := globalSession(t, w, world.USEast1, gocql.LocalOne)
	eu := globalSession(t, w, world.EUWest1, gocql.LocalOne)
	globalKeyspace(t, us, ks)
	ctx := context.Background()
	if err := w.WAN().Partition(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.WAN().Heal(context.Background()) })
	for k := 1; k <= n; k++ {
		if err := us.Query("INSERT INTO "+ks+".t (k, v) VALUES (?, 'partitioned')", k).Exec(); err != nil {
			t.Fatalf("LOCAL_ONE write %d in us-east-1 during the partition: %v", k, err)
		}
	}
	// The coordinator keeps a message for a replica it cannot reach until write_request_timeout, then
	// writes a hint: wait until us-east-1 holds hints for eu-west-1, so that what the heal delivers
	// is hints, not queued messages.
	local := session(t, w.GlobalUSCQL)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var files int
		iter := local.Query("SELECT files FROM system_views.pending_hints").Iter()
		hinted := false
		for iter.Scan(&files) {
			hinted = hinted || files > 0
		}
		if err := iter.Close(); err != nil {
			t.Fatalf("read system_views.pending_hints on us-east-1: %v", err)
		}
		if hinted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("us-east-1 wrote no hints for eu-west-1 within 60s of the partition")
		}
		time.Sleep(500 * time.Millisecond)
	}
	for k := 1; k <= n; k++ {
		var v string
		err := eu.Query("SELECT v FROM "+ks+".t WHERE k = ?", k).Consistency(gocql.LocalOne).Scan(&v)
		if err == nil {
			t.Fatalf("row %d written in us-east-1 during the partition is visible in eu-west-1: the partition did not cut replication", k)
		}
		if err != gocql.ErrNotFound {
			t.Fatalf("read row %d in eu-west-1: %v", k, err)
		}
	}
	t0 := time.Now()
	if err := w.WAN().Heal(ctx); err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= n; k++ {
		if _, ok := visibleAt(eu, ks, k, 90*time.Second-time.Since(t0)); !ok {
			t.Fatalf("row %d written in us-east-1 during the partition is not in eu-west-1 %v after the heal: hints not delivered",
				k, time.Since(t0).Round(time.Second))
		}
	}
	t.Logf("all %d rows delivered to eu-west-1 %v after the heal", n, time.Since(t0).Round(time.Millisecond))
}

// TestWorldApplicationsReachOwnRegionDirectly: an application in each region is served by its own
// datacenter's node at that node's own address, and reaches every other region's node (and SQS
// server) only through that pair's WAN path, whose round trip (the seeds' distance) it then pays.
func TestWorldApplicationsReachOwnRegionDirectly(t *testing.T) {
	w := needWorld(t)
	link := world.Link{Delays: world.SeedDelays()}
	setWANLink(t, w, link)
	for _, r := range world.Regions {
		for _, other := range r.Others() {
			reachesOther(t, w, r, other, link.PairRTT(r, other))
		}
	}
}

// reachesOther checks one directed pair for TestWorldApplicationsReachOwnRegionDirectly.
func reachesOther(t *testing.T, w world.Env, r, other world.Region, rtt time.Duration) {
	// Own region: served by its DC, connected at the node's direct address.
	s := globalSession(t, w, r, gocql.LocalOne)
	var dc string
	iter := s.Query("SELECT data_center FROM system.local").Iter()
	iter.Scan(&dc)
	host := iter.Host()
	if err := iter.Close(); err != nil {
		t.Fatalf("%s: %v", r, err)
	}
	if dc != r.DC() || host == nil || host.DataCenter() != r.DC() {
		t.Fatalf("an application in %s was served by DC %q (host %v), want its own", r, dc, host)
	}
	if got, want := net.JoinHostPort(host.ConnectAddress().String(), fmt.Sprint(host.Port())), w.GlobalCQL(r, r); got != want {
		t.Errorf("an application in %s reaches its own node at %s, want %s (directly)", r, got, want)
	}

	// Other region: the same application's configuration, routed to the other DC.
	c := withAccess(w.GlobalCluster(r), cqlconn.RoleAdmin)
	c.Consistency = gocql.LocalOne
	c.PoolConfig.HostSelectionPolicy = gocql.DCAwareRoundRobinPolicy(other.DC())
	remote, err := c.CreateSession()
	if err != nil {
		t.Fatalf("%s: session routed to %s: %v", r, other, err)
	}
	t.Cleanup(remote.Close)
	remote.Query("SELECT data_center FROM system.local").Exec() // connections warm
	t0 := time.Now()
	iter = remote.Query("SELECT data_center FROM system.local").Iter()
	iter.Scan(&dc)
	took := time.Since(t0)
	host = iter.Host()
	if err := iter.Close(); err != nil {
		t.Fatalf("%s -> %s: %v", r, other, err)
	}
	if dc != other.DC() || host == nil {
		t.Fatalf("a query routed from %s to %s was served by DC %q", r, other, dc)
	}
	if got, want := net.JoinHostPort(host.ConnectAddress().String(), fmt.Sprint(host.Port())), w.GlobalCQL(r, other); got != want {
		t.Errorf("an application in %s reaches %s's node at %s, want its WAN address %s", r, other, got, want)
	}
	if took < rtt {
		t.Errorf("a query from %s to %s's node took %v, less than the pair's round trip %v: it bypassed the WAN", r, other, took, rtt)
	}
	t.Logf("%s: own DC at %s; %s's node at its WAN address, query %v", r, w.GlobalCQL(r, r), other, took.Round(time.Millisecond))

	// SQS: a send to the other region's queue goes through the WAN; its consumer reads it at home.
	// Unsigned: ElasticMQ does not check credentials; production uses the SDK's default chain.
	ctx := context.Background()
	sender := sqs.New(sqs.Options{Region: string(other), BaseEndpoint: aws.String(w.SQS(r, other)), Credentials: aws.AnonymousCredentials{}})
	home := sqs.New(sqs.Options{Region: string(other), BaseEndpoint: aws.String(w.SQS(other, other)), Credentials: aws.AnonymousCredentials{}})
	name := fmt.Sprintf("world-%s-%d", other, time.Now().UnixNano())
	q, err := home.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("create queue in %s: %v", other, err)
	}
	t.Cleanup(func() { home.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}) })
	body := "from " + string(r)
	t0 = time.Now()
	if _, err := sender.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(body)}); err != nil {
		t.Fatalf("send from %s to %s's queue: %v", r, other, err)
	}
	if took := time.Since(t0); took < rtt {
		t.Errorf("a send from %s to %s's queue took %v, less than the pair's round trip %v: it bypassed the WAN", r, other, took, rtt)
	}
	out, err := home.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 5})
	if err != nil || len(out.Messages) != 1 || !strings.EqualFold(aws.ToString(out.Messages[0].Body), body) {
		t.Fatalf("%s's consumer did not receive the message sent from %s: %v %v", other, r, out, err)
	}
}

// TestWorldRegionsScriptDrivesTheWAN: scripts/regions wan, partition and heal change the same WAN
// the Go package reads, and a restart of the proxy keeps the setting.
func TestWorldRegionsScriptDrivesTheWAN(t *testing.T) {
	w := needWorld(t)
	e := needServices(t)
	ctx := context.Background()
	before, err := w.WAN().Link(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rtt := fmt.Sprintf("%dms", before.RTT().Milliseconds())
	if before.Delays != (world.Delays{}) {
		rtt = "seeds" // the only per-region setting the script makes
	}
	t.Cleanup(func() {
		for _, args := range [][]string{{"heal"}, {"wan", rtt, fmt.Sprintf("%dms", before.Jitter.Milliseconds())}} {
			if out, err := exec.Command(e.Regions, args...).CombinedOutput(); err != nil {
				t.Errorf("restoring the WAN: scripts/regions %v: %v\n%s", args, err, out)
			}
		}
	})
	script := func(args ...string) {
		t.Helper()
		out, err := exec.Command(e.Regions, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("scripts/regions %v: %v\n%s", args, err, out)
		}
	}
	want := func(l world.Link) {
		t.Helper()
		got, err := w.WAN().Link(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != l {
			t.Fatalf("the WAN is %v, want %v", got, l)
		}
	}
	script("wan", "100ms", "4ms")
	want(world.Link{OneWay: 50 * time.Millisecond, Jitter: 4 * time.Millisecond})
	script("partition")
	want(world.Link{OneWay: 50 * time.Millisecond, Jitter: 4 * time.Millisecond, Partitioned: true})
	script("restart", "wan")
	want(world.Link{OneWay: 50 * time.Millisecond, Jitter: 4 * time.Millisecond, Partitioned: true})
	script("heal")
	want(world.Link{OneWay: 50 * time.Millisecond, Jitter: 4 * time.Millisecond})
	script("wan", "0")
	want(world.Link{})
	// Per region: the seeds' distances, one region isolated from both others, kept across a
	// restart of the proxies, healed.
	script("wan", "seeds", "3ms")
	seeds := world.Link{Delays: world.SeedDelays(), Jitter: 3 * time.Millisecond}
	want(seeds)
	script("partition", "us-west-2")
	want(seeds.Isolate(world.USWest2))
	script("restart", "wan")
	want(seeds.Isolate(world.USWest2))
	script("heal")
	want(seeds)
}

// TestWorldPartitionRegionIsolatesIt: `partition REGION` (WAN.Isolate) cuts one region off from
// both others while they stay connected: a write in us-east-1 reaches eu-west-1 and not us-west-2,
// an SQS send from us-west-2 to another region fails; after the heal, hints bring the write to
// us-west-2 too.
func TestWorldPartitionRegionIsolatesIt(t *testing.T) {
	w := needWorld(t)
	setWANLink(t, w, world.Link{Delays: world.SeedDelays(), Jitter: 2 * time.Millisecond})
	const ks, n = "world_isolate", 20
	us := globalSession(t, w, world.USEast1, gocql.LocalOne)
	eu := globalSession(t, w, world.EUWest1, gocql.LocalOne)
	usw := globalSession(t, w, world.USWest2, gocql.LocalOne)
	globalKeyspace(t, us, ks)
	ctx := context.Background()
	if err := w.WAN().Isolate(ctx, world.USWest2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.WAN().Heal(context.Background()) })
	l, err := w.WAN().Link(ctx)
	if err != nil || !l.IsolatedRegion(world.USWest2) || l.IsolatedRegion(world.USEast1) || l.IsolatedRegion(world.EUWest1) {
		t.Fatalf("after Isolate(us-west-2) the WAN reads %v, %v", l, err)
	}
	for k := 1; k <= n; k++ {
		if err := us.Query("INSERT INTO "+ks+".t (k, v) VALUES (?, 'isolated')", k).Exec(); err != nil {
			t.Fatalf("LOCAL_ONE write %d in us-east-1 while us-west-2 is isolated: %v", k, err)
		}
	}
	for k := 1; k <= n; k++ {
		if _, ok := visibleAt(eu, ks, k, 20*time.Second); !ok {
			t.Fatalf("row %d written in us-east-1 did not reach eu-west-1 while only us-west-2 was isolated", k)
		}
	}
	for k := 1; k <= n; k++ {
		var v string
		err := usw.Query("SELECT v FROM "+ks+".t WHERE k = ?", k).Consistency(gocql.LocalOne).Scan(&v)
		if err == nil {
			t.Fatalf("row %d written in us-east-1 reached isolated us-west-2", k)
		}
		if err != gocql.ErrNotFound {
			t.Fatalf("read row %d in us-west-2: %v", k, err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sender := sqs.New(sqs.Options{Region: string(world.USEast1), BaseEndpoint: aws.String(w.SQS(world.USWest2, world.USEast1)),
		Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
	if _, err := sender.ListQueues(sctx, &sqs.ListQueuesInput{}); err == nil {
		t.Errorf("an SQS call from isolated us-west-2 to us-east-1 went through")
	}
	t0 := time.Now()
	if err := w.WAN().Heal(ctx); err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= n; k++ {
		if _, ok := visibleAt(usw, ks, k, 90*time.Second-time.Since(t0)); !ok {
			t.Fatalf("row %d is not in us-west-2 %v after the heal: hints not delivered", k, time.Since(t0).Round(time.Second))
		}
	}
	t.Logf("all %d rows delivered to us-west-2 %v after the heal", n, time.Since(t0).Round(time.Millisecond))
}
