package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/globalcloud/islands/cachesync"
	"github.com/globalcloud/islands/internal/lab/world"
)

// TestCachesyncPublisherPerRegionSQS (issue 31, item 1): from each region, a publisher reaches
// the other region's queue through that region's own SQS server (across the WAN) and its own
// queue through its own server, each destination with its own client, queues given by name.
// Each queue exists on its region's server only, so one client could not have reached both.
func TestCachesyncPublisherPerRegionSQS(t *testing.T) {
	w := needWorld(t)
	t.Parallel() // faults nothing: runs beside the others that fault nothing, after those that do
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := func(from, to world.Region) *sqs.Client {
		// Unsigned: ElasticMQ does not check credentials; production uses the SDK's default chain.
		return sqs.New(sqs.Options{Region: string(to), BaseEndpoint: aws.String(w.SQS(from, to)), Credentials: aws.AnonymousCredentials{}})
	}
	for _, r := range world.Regions {
		for _, other := range r.Others() {
			pair(t, ctx, client, r, other)
		}
	}
}

// pair: r's publisher sends to other's queue through other's own client, and its second events to
// r's own queue through r's.
func pair(t *testing.T, ctx context.Context, client func(from, to world.Region) *sqs.Client, r, other world.Region) {
	{
		names := map[world.Region]string{}
		for _, q := range []world.Region{r, other} {
			home := client(q, q)
			names[q] = fmt.Sprintf("adopter-%s-from-%s-%d", q, r, time.Now().UnixNano())
			out, err := home.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(names[q])})
			if err != nil {
				t.Fatalf("create queue in %s: %v", q, err)
			}
			t.Cleanup(func() { home.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl}) })
		}
		// The other region's queue is unknown to this region's server: one client is not enough.
		if _, err := cachesync.QueueURL(ctx, client(r, r), names[other]); err == nil {
			t.Fatalf("%s's SQS server knows %s's queue %s: the test would not tell one client from two", r, other, names[other])
		}
		pub, err := cachesync.NewPublisherTo(ctx,
			[]cachesync.Destination{{Region: string(other), Client: client(r, other), Queue: names[other]}},
			&cachesync.Destination{Region: string(r), Client: client(r, r), Queue: names[r]},
			cachesync.PublisherOptions{SecondInvalidation: time.Second})
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		const n = 30
		for i := 0; i < n; i++ {
			ev := &cachesync.Event{Format: cachesync.EventFormat, ID: fmt.Sprint(i), Op: cachesync.OpInvalidate,
				Key: fmt.Sprintf("adopter:%d", i), Version: cachesync.Version{Micros: int64(i + 1), Origin: string(r)}}
			if err := pub.Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := pub.Close(ctx); err != nil {
			t.Fatal(err)
		}
		for q, want := range map[world.Region]int{other: 2 * n, r: n} { // the other region: first and second events
			home := client(q, q)
			u, err := cachesync.QueueURL(ctx, home, names[q])
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for deadline := time.Now().Add(20 * time.Second); got < want && time.Now().Before(deadline); {
				out, err := home.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(u), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil {
					t.Fatal(err)
				}
				got += len(out.Messages)
				for _, m := range out.Messages {
					home.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: m.ReceiptHandle})
				}
			}
			t.Logf("from %s: %s's queue on its own server received %d messages (want %d)", r, q, got, want)
			if got != want {
				t.Errorf("from %s: %s's queue received %d messages, want %d", r, q, got, want)
			}
		}
	}
}
