package integration

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/bradfitz/gomemcache/memcache"

	"github.com/globalcloud/islands/cachesync"
)

// csRegion is one region of a cachesync test: its memcached, its queue, the client the
// application writes through (publishing to the other region's queue) and its agent.
type csRegion struct {
	name   string
	mc     *memcache.Client
	queue  string
	dlq    string
	client *cachesync.Client
	pub    *cachesync.Publisher
	agent  *cachesync.Agent
	stop   context.CancelFunc
	done   chan struct{}
}

var csRules = cachesync.Rules{Default: cachesync.Invalidate, Rules: []cachesync.Rule{{Prefix: "profile:", Mode: cachesync.Replicate}}}

// csRegions creates a queue pair per region and the clients; agents are started with startAgent.
func csRegions(t *testing.T, e Env, name string, pubOpts cachesync.PublisherOptions) (us, eu *csRegion) {
	t.Helper()
	c := sqsClient(e)
	us = &csRegion{name: "us-east-1", mc: memcached(e.USMemcached)}
	eu = &csRegion{name: "eu-west-1", mc: memcached(e.EUMemcached)}
	us.queue, us.dlq = smokeQueue(t, c, name+"-us", 5)
	eu.queue, eu.dlq = smokeQueue(t, c, name+"-eu", 5)
	for _, r := range []struct{ self, other *csRegion }{{us, eu}, {eu, us}} {
		pub, err := cachesync.NewPublisher(c, []string{r.other.queue}, pubOpts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pub.Close(context.Background()) })
		cl, err := cachesync.NewClient(r.self.mc, pub, cachesync.ClientOptions{Region: r.self.name, Rules: csRules})
		if err != nil {
			t.Fatal(err)
		}
		r.self.pub, r.self.client = pub, cl
	}
	return us, eu
}

// startAgent runs an in-process agent for r until the test ends (or stopAgent).
func startAgent(t *testing.T, e Env, r *csRegion, opts cachesync.AgentOptions) {
	t.Helper()
	if opts.WaitSeconds == 0 {
		opts.WaitSeconds = 1
	}
	a, err := cachesync.NewAgent(sqsClient(e), r.queue, r.mc, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.agent, r.stop, r.done = a, cancel, make(chan struct{})
	go func() { a.Run(ctx); close(r.done) }()
	t.Cleanup(func() { stopAgent(r) })
}

func stopAgent(r *csRegion) {
	if r.stop != nil {
		r.stop()
		<-r.done
		r.stop = nil
	}
}

// queueEmpty reports whether a queue holds no message, visible, in flight or delayed.
func queueEmpty(ctx context.Context, c *sqs.Client, url string) (bool, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible, types.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		return false, err
	}
	for _, v := range out.Attributes {
		if n, _ := strconv.Atoi(v); n > 0 {
			return false, nil
		}
	}
	return true, nil
}

// waitDrained waits until the queues are empty (twice in a row, a second apart).
func waitDrained(t *testing.T, e Env, limit time.Duration, urls ...string) {
	t.Helper()
	c := sqsClient(e)
	deadline := time.Now().Add(limit)
	streak := 0
	for streak < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("queues not drained within %s", limit)
		}
		all := true
		for _, u := range urls {
			ok, err := queueEmpty(context.Background(), c, u)
			if err != nil || !ok {
				all = false
			}
		}
		if all {
			streak++
		} else {
			streak = 0
		}
		time.Sleep(time.Second)
	}
}

// csWrite is one acknowledged write of a test, for the expected state.
type csWrite struct {
	key     string
	value   string // "" for a delete
	version cachesync.Version
}

// csModel keeps the newest write per key.
type csModel struct {
	mu     sync.Mutex
	newest map[string]csWrite
	all    []csWrite
}

func (m *csModel) add(w csWrite) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.newest[w.key]; !ok || cur.version.Less(w.version) {
		m.newest[w.key] = w
	}
	m.all = append(m.all, w)
}

// csCheck compares both regions with the model: replicated keys hold the newest value (or are
// absent after a delete) in both regions; invalidated keys, and keys ending in "-i" (a test's
// way to say a miss is right for them), hold the newest value or nothing.
func csCheck(t *testing.T, m *csModel, regions ...*csRegion) (checked int) {
	t.Helper()
	bad := 0
	for key, w := range m.newest {
		for _, r := range regions {
			it, err := r.client.Get(context.Background(), key)
			got := ""
			if err == nil {
				got = string(it.Value)
			} else if err != memcache.ErrCacheMiss {
				t.Fatalf("%s get %s: %v", r.name, key, err)
			}
			ok := got == w.value
			if csRules.Mode(key) == cachesync.Invalidate || key[len(key)-2:] == "-i" {
				ok = ok || got == ""
			}
			if !ok {
				if bad < 5 {
					t.Errorf("%s: %s = %q, newest write %q (%+v)", r.name, key, got, w.value, w.version)
				}
				bad++
			}
			checked++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d cache entries are not the newest write", bad, checked)
	}
	return checked
}

func csKey(run, kind string, i int) string { return fmt.Sprintf("%s:%s:%d", kind, run, i) }
