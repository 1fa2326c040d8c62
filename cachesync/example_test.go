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

// Example is the README's cachesync example, compiled by `go test` so it cannot drift: an
// application in us-east-1 builds one SQS client per region (in AWS each region's SQS is its own
// endpoint and credential scope), gives the queues by name, and keeps the second event's rule
// (SecondInvalidation ≥ TombstoneTTL + 2 × MaxClockSkew, which NewClient checks).
func Example() {
	ctx := context.Background()
	sqsIn := func(region string) *sqs.Client { // the SDK's default credential chain, per region
		cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
		if err != nil {
			log.Fatal(err)
		}
		return sqs.NewFromConfig(cfg)
	}
	// Against the local world's ElasticMQ instead: unsigned requests to each region's own server,
	//   sqs.New(sqs.Options{Region: region, BaseEndpoint: aws.String("http://127.0.6.1:9324"),
	//     Credentials: aws.AnonymousCredentials{}})

	pub, err := cachesync.NewPublisherTo(ctx,
		[]cachesync.Destination{{Region: "eu-west-1", Client: sqsIn("eu-west-1"), Queue: "islands-eu-west-1"}}, // the other regions
		&cachesync.Destination{Region: "us-east-1", Client: sqsIn("us-east-1"), Queue: "islands-us-east-1"},    // this region's own
		cachesync.PublisherOptions{
			SecondInvalidation: 70 * time.Second, // ≥ TombstoneTTL 60 s + 2 × MaxClockSkew 1 s, and above the replica lag
			SpillDir:           "/var/lib/app/cachesync-spill", ResendWindow: 10 * time.Second})
	if err != nil {
		log.Fatal(err) // names the region and queue it could not resolve
	}
	defer pub.Close(ctx)
	mc := memcache.New("127.0.5.1:11211")
	cache, err := cachesync.NewClient(mc, pub, cachesync.ClientOptions{Region: "us-east-1",
		TombstoneTTL: time.Minute, MaxClockSkew: time.Second, // the agents run with tombstone_ttl: 1m too
		Rules: cachesync.Rules{Default: cachesync.Invalidate, Rules: []cachesync.Rule{{Prefix: "profile:", Mode: cachesync.Replicate}}}})
	if err != nil {
		log.Fatal(err) // errors.Is(err, cachesync.ErrConfig): e.g. SecondInvalidation too short
	}

	// A write: one version for the database and the cache.
	v := cache.Now() // hybrid logical clock, µs: the database write's USING TIMESTAMP too
	if _, err := cache.Set(ctx, &cachesync.Item{Key: "profile:42", Value: []byte("…"), Version: v}); errors.Is(err, cachesync.ErrNotApplied) {
		// a newer version is held; nothing was sent
	}
	cache.DeleteAt(ctx, "history:42", v)

	// A read, cache-aside: the fill's lease is taken BEFORE the database read.
	if _, err := cache.Get(ctx, "profile:42"); errors.Is(err, memcache.ErrCacheMiss) {
		tok, _ := cache.BeginFill(ctx, "profile:42")
		b := []byte("read from the database")
		cache.Fill(ctx, tok, &cachesync.Item{Key: "profile:42", Value: b}) // ErrNotApplied: the key changed meanwhile
	}
	cache.Emit(ctx, "recompute-recommendations", map[string]any{"member": 42}) // an application event (relay)
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

// A mode named in a configuration file.
func ExampleParseMode() {
	for _, s := range []string{"replicate", "invalidate", "mirror"} {
		m, err := cachesync.ParseMode(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(m)
	}
	// Output:
	// replicate
	// invalidate
	// cachesync: unknown mode "mirror": use replicate or invalidate
}

// The publisher's defaults, and an option out of range named by Validate.
func ExampleDefaultPublisherOptions() {
	opts := cachesync.DefaultPublisherOptions()
	fmt.Println(opts.BatchSize, opts.Buffer, opts.FlushInterval)
	opts.BatchSize = 20
	fmt.Println(opts.Validate())
	// Output:
	// 10 10000 5ms
	// cachesync: bad configuration: PublisherOptions.BatchSize is 20: SQS takes 1 to 10 entries per batch
}
