package cachesync_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/bradfitz/gomemcache/memcache"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/globalcloud/islands/cachesync"
)

// An application in eu-west-1 caches through a cachesync Client: each Set or Delete on the local
// memcached publishes one versioned event to the other regions' queues, where their agents
// (cmd/cachesync) apply it. Profiles are replicated; everything else is invalidated.
func Example() {
	ctx := context.Background()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("eu-west-1"))
	if err != nil {
		log.Fatal(err)
	}
	publisher, err := cachesync.NewPublisher(sqs.NewFromConfig(awsCfg), []string{
		"https://sqs.us-east-1.amazonaws.com/123456789012/islands-cache-us-east-1",
		"https://sqs.us-west-2.amazonaws.com/123456789012/islands-cache-us-west-2",
	}, cachesync.PublisherOptions{
		SpillDir:   "/var/lib/app/cachesync-spill", // events survive an SQS outage and a restart
		Registerer: prometheus.DefaultRegisterer,
	})
	if err != nil {
		log.Fatal(err)
	}
	// Close flushes what is buffered (or spills it) by its context's deadline.
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		publisher.Close(cctx)
	}()

	client, err := cachesync.NewClient(memcache.New("memcached.islands.svc:11211"), publisher, cachesync.ClientOptions{
		Region: "eu-west-1",
		Rules: cachesync.Rules{Default: cachesync.Invalidate, Rules: []cachesync.Rule{
			{Prefix: "profile:", Mode: cachesync.Replicate},
		}},
		Registerer: prometheus.DefaultRegisterer,
	})
	if err != nil {
		log.Fatal(err)
	}

	// Write the database first, at the version the cache write uses (its USING TIMESTAMP).
	v := client.Now()
	if _, err := client.Set(ctx, &cachesync.Item{Key: "profile:42", Value: []byte(`{"plan":"gold"}`), Version: v}); err != nil {
		log.Fatal(err)
	}
	if _, err := client.Delete(ctx, "session:42"); err != nil {
		log.Fatal(err)
	}
	it, err := client.Get(ctx, "profile:42")
	if errors.Is(err, memcache.ErrCacheMiss) {
		fmt.Println("miss: read the database and fill")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s at %v\n", it.Value, it.Version)
}

// The agent of a region, as cmd/cachesync runs it beside memcached: it long-polls the region's
// queue and applies the other regions' events, an older version never over a newer one.
func ExampleNewAgent() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("eu-west-1"))
	if err != nil {
		log.Fatal(err)
	}
	agent, err := cachesync.NewAgent(sqs.NewFromConfig(awsCfg),
		"https://sqs.eu-west-1.amazonaws.com/123456789012/islands-cache-eu-west-1",
		memcache.New("127.0.0.1:11211"), cachesync.AgentOptions{Receivers: 4, Registerer: prometheus.DefaultRegisterer})
	if err != nil {
		log.Fatal(err)
	}
	if err := agent.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
}

// A key's mode is the one of its longest matching prefix.
func ExampleRules_Mode() {
	rules := cachesync.Rules{Default: cachesync.Invalidate, Rules: []cachesync.Rule{
		{Prefix: "profile:", Mode: cachesync.Replicate},
		{Prefix: "profile:avatar:", Mode: cachesync.Invalidate},
	}}
	for _, key := range []string{"profile:42", "profile:avatar:42", "session:42"} {
		fmt.Println(key, rules.Mode(key))
	}
	// Output:
	// profile:42 replicate
	// profile:avatar:42 invalidate
	// session:42 invalidate
}
