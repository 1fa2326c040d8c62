package chaos

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// An asymmetric cut disables only the WAN's path to one region's SQS server, and is offered only
// when the WAN can make it.
func TestSQSCutIsOnePath(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, r.Method+" "+r.URL.Path+" "+string(b))
		mu.Unlock()
		if r.URL.Path == "/proxies" {
			io.WriteString(w, `{"eu-west-1-sqs-from-us-east-1":{"name":"eu-west-1-sqs-from-us-east-1","enabled":true,"toxics":[]},"us-east-1-sqs-from-eu-west-1":{"name":"us-east-1-sqs-from-eu-west-1","enabled":true,"toxics":[]}}`)
			return
		}
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	p := NewWANPartitioner(nil)
	if targets := (PartitionFault{P: p, Regions: Regions}).Targets(); strings.Contains(names(targets), KindSQSCut) {
		t.Fatalf("a WAN without its API offers %s", names(targets))
	}
	p = NewWANPartitionerAt(srv.URL)
	f := PartitionFault{P: p, Regions: Regions}
	got := names(f.Targets())
	for _, to := range Regions {
		for _, from := range Regions {
			if want := "sqs-cut/" + to + "-sqs-from-" + from; to != from && !strings.Contains(got, want) {
				t.Fatalf("targets %s, want every one-way SQS cut (%s missing)", got, want)
			}
		}
	}
	if err := f.Start(context.Background(), Step{Kind: KindSQSCut, Target: "eu-west-1-sqs-from-us-east-1"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var posts []string
	for _, c := range calls {
		if strings.HasPrefix(c, "POST") {
			posts = append(posts, c)
		}
	}
	if len(posts) != 1 || posts[0] != `POST /proxies/eu-west-1-sqs-from-us-east-1 {"enabled":false}` {
		t.Fatalf("WAN calls %q, want one that disables eu-west-1-sqs-from-us-east-1 only", posts)
	}
}

func names(ts []Target) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Kind+"/"+t.Name)
	}
	return strings.Join(out, " ")
}

// Latency faults carry their one-way delay, above and below dualwrite's follower budget.
func TestLatencySpikesCrossTheFollowerBudget(t *testing.T) {
	offered := []Target{{Kind: KindLatency, Name: "us-east-1|eu-west-1"}}
	above, below := 0, 0
	for seed := uint64(1); seed <= 20; seed++ {
		for _, st := range Generate(seed, 60*time.Second, offered, 4*time.Second).Steps {
			d, err := time.ParseDuration(st.Arg)
			if err != nil || d < 100*time.Millisecond || d > 800*time.Millisecond {
				t.Fatalf("seed %d: latency step %v: arg %q", seed, st, st.Arg)
			}
			if d > 200*time.Millisecond {
				above++
			} else {
				below++
			}
		}
	}
	if above == 0 || below == 0 {
		t.Fatalf("%d spikes above the 200 ms follower budget, %d below: want both", above, below)
	}
}
