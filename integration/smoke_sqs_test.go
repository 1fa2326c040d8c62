package integration

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// smokeQueue creates a queue with a dead-letter queue that takes a message after maxReceive receives,
// both named after the test run, and deletes them when the test ends.
func smokeQueue(t *testing.T, c *sqs.Client, name string, maxReceive int) (queueURL, dlqURL string) {
	t.Helper()
	ctx := context.Background()
	suffix := fmt.Sprintf("-%d", time.Now().UnixNano())
	dlq, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + suffix + "-dlq")})
	if err != nil {
		t.Fatalf("create dead-letter queue: %v", err)
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: dlq.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("dead-letter queue arn: %v", err)
	}
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String(name + suffix),
		Attributes: map[string]string{
			"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`,
				attrs.Attributes["QueueArn"], maxReceive),
		},
	})
	if err != nil {
		t.Fatalf("create queue with redrive policy: %v", err)
	}
	t.Cleanup(func() {
		c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl})
		c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: dlq.QueueUrl})
	})
	return *q.QueueUrl, *dlq.QueueUrl
}

// TestSmokeSQS checks the SQS calls cachesync makes against the real ElasticMQ, over the JSON protocol
// of aws-sdk-go-v2: a batch of 10, a long-poll receive, a batch delete, and a redrive to the
// dead-letter queue.
func TestSmokeSQS(t *testing.T) {
	e := needServices(t)
	c := sqsClient(e)
	ctx := context.Background()

	if _, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(e.USQueue)}); err != nil {
		t.Fatalf("the regions' queue %s is missing: %v", e.USQueue, err)
	}

	queue, dlq := smokeQueue(t, c, "smoke", 1)
	entries := make([]types.SendMessageBatchRequestEntry, 10)
	for i := range entries {
		entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(fmt.Sprint("m", i))}
	}
	sent, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &queue, Entries: entries})
	if err != nil {
		t.Fatalf("send batch: %v", err)
	}
	if len(sent.Successful) != 10 || len(sent.Failed) != 0 {
		t.Fatalf("send batch: %d ok, %d failed, want 10 ok", len(sent.Successful), len(sent.Failed))
	}

	var bodies []string
	for len(bodies) < 10 {
		got, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queue, MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(got.Messages) == 0 {
			t.Fatalf("long poll returned nothing after %d of 10 messages", len(bodies))
		}
		del := make([]types.DeleteMessageBatchRequestEntry, len(got.Messages))
		for i, m := range got.Messages {
			bodies = append(bodies, *m.Body)
			del[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle}
		}
		out, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &queue, Entries: del})
		if err != nil || len(out.Failed) != 0 {
			t.Fatalf("delete batch: %v (%d failed)", err, len(out.Failed))
		}
	}
	sort.Strings(bodies)
	if fmt.Sprint(bodies) != "[m0 m1 m2 m3 m4 m5 m6 m7 m8 m9]" {
		t.Fatalf("received %v", bodies)
	}

	// An empty long poll waits about as long as asked, then returns nothing.
	start := time.Now()
	got, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queue, WaitTimeSeconds: 1})
	if err != nil || len(got.Messages) != 0 {
		t.Fatalf("receive on an empty queue: %v, %d messages", err, len(got.Messages))
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Errorf("long poll returned after %v, want about 1s", waited)
	}

	// A message received and not deleted more than maxReceiveCount times moves to the dead-letter queue.
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &queue, MessageBody: aws.String("poison")}); err != nil {
		t.Fatalf("send poison: %v", err)
	}
	got, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queue, WaitTimeSeconds: 2, VisibilityTimeout: 1})
	if err != nil || len(got.Messages) != 1 {
		t.Fatalf("first receive of poison: %v, %d messages", err, len(got.Messages))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &dlq, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatalf("receive from dead-letter queue: %v", err)
		}
		if len(got.Messages) == 1 && *got.Messages[0].Body == "poison" {
			break
		}
		// Receiving from the source queue after the visibility timeout is what triggers the move.
		if _, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queue, WaitTimeSeconds: 1, VisibilityTimeout: 1}); err != nil {
			t.Fatalf("receive: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the poison message never reached the dead-letter queue")
		}
	}
}
