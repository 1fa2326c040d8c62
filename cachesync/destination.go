package cachesync

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Destination is one region's queue as a publisher reaches it: through that region's own SQS
// client (in AWS each region's SQS is its own endpoint and credential scope: a client of
// us-east-1 cannot send to eu-west-1's queue) and its queue, by name or URL.
type Destination struct {
	Region string // the region's name, for errors and logs
	Client SQS    // an SQS client of that region (required): an *sqs.Client
	// Queue is the region's queue: a name, looked up with GetQueueUrl through Client when the
	// publisher is built, or a URL (anything with "://"), taken as it is — as cmd/cachesync's
	// queue key takes it.
	Queue string
}

// NewPublisherTo starts a publisher sending to each destination through its own client: the one
// way to reach several regions' SQS (one Publisher, one spill directory, one Close). own, if
// not nil, is this region's own queue (through this region's client): the second events go there
// too (PublisherOptions.OwnQueue, which must then be empty). Queue names are resolved to URLs now,
// each through its destination's client; a destination that cannot be resolved fails the call,
// naming its region and queue. Batching, retries, the spill and Close are NewPublisher's.
func NewPublisherTo(ctx context.Context, dests []Destination, own *Destination, opts PublisherOptions) (*Publisher, error) {
	if len(dests) == 0 {
		return nil, fmt.Errorf("%w: a publisher needs at least one destination (region, SQS client, queue)", ErrConfig)
	}
	if own != nil && opts.OwnQueue != "" {
		return nil, fmt.Errorf("%w: give this region's own queue either as NewPublisherTo's own destination or as PublisherOptions.OwnQueue, not both", ErrConfig)
	}
	route := byQueue{clients: map[string]SQS{}}
	resolve := func(d Destination) (string, error) {
		if d.Client == nil || d.Queue == "" {
			return "", fmt.Errorf("%w: destination %q needs its region's SQS client and its queue (name or URL)", ErrConfig, d.Region)
		}
		u, err := QueueURL(ctx, d.Client, d.Queue)
		if err != nil {
			return "", fmt.Errorf("cachesync: destination %s: %w", d.Region, err)
		}
		if route.fallback == nil {
			route.fallback = d.Client
		}
		route.clients[u] = d.Client
		return u, nil
	}
	var urls []string
	for _, d := range dests {
		u, err := resolve(d)
		if err != nil {
			return nil, err
		}
		urls = append(urls, u)
	}
	if own != nil {
		u, err := resolve(*own)
		if err != nil {
			return nil, err
		}
		opts.OwnQueue = u
	}
	return newPublisher(route, urls, opts)
}

// QueueURL returns the URL of queue: queue itself when it is a URL (it contains "://"), else the
// URL the client's SQS gives for that name.
func QueueURL(ctx context.Context, client SQS, queue string) (string, error) {
	if strings.Contains(queue, "://") {
		return queue, nil
	}
	out, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(queue)})
	if err != nil {
		return "", fmt.Errorf("queue %q: %w", queue, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// byQueue sends each call through the client of its queue URL's destination. A URL it does not
// know — a spilled event of an earlier run whose destinations differed — goes through the first
// destination's client (NewPublisher's only client).
type byQueue struct {
	clients  map[string]SQS
	fallback SQS
}

func (b byQueue) client(url *string) SQS {
	if c, ok := b.clients[aws.ToString(url)]; ok {
		return c
	}
	return b.fallback
}

func (b byQueue) SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	return b.client(in.QueueUrl).SendMessage(ctx, in, optFns...)
}

func (b byQueue) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	return b.client(in.QueueUrl).SendMessageBatch(ctx, in, optFns...)
}
