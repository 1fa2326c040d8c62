package cachesync

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// regionSQS is a minimal SQS JSON-protocol server of one region (GetQueueUrl, SendMessage,
// SendMessageBatch), recording the queue URL of every message it was sent. It answers only for
// its own queues, as a region's SQS endpoint does: a message for another region's queue is an
// error (AWS.SimpleQueueService.NonExistentQueue).
type regionSQS struct {
	srv    *httptest.Server
	queues map[string]bool // names
	mu     sync.Mutex
	got    map[string]int // queue URL -> messages
	calls  int
}

func newRegionSQS(t *testing.T, queues ...string) *regionSQS {
	r := &regionSQS{queues: map[string]bool{}, got: map[string]int{}}
	for _, q := range queues {
		r.queues[q] = true
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *regionSQS) url(q string) string { return r.srv.URL + "/000000000000/" + q }

func (r *regionSQS) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var in map[string]any
	json.Unmarshal(body, &in)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	fail := func() {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}`))
	}
	own := func(u any) bool {
		s, _ := u.(string)
		return strings.HasPrefix(s, r.srv.URL+"/000000000000/") && r.queues[strings.TrimPrefix(s, r.srv.URL+"/000000000000/")]
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	switch req.Header.Get("X-Amz-Target") {
	case "AmazonSQS.GetQueueUrl":
		name, _ := in["QueueName"].(string)
		if !r.queues[name] {
			fail()
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"QueueUrl": r.url(name)})
	case "AmazonSQS.SendMessage":
		if !own(in["QueueUrl"]) {
			fail()
			return
		}
		r.got[in["QueueUrl"].(string)]++
		json.NewEncoder(w).Encode(map[string]string{"MessageId": "m", "MD5OfMessageBody": ""})
	case "AmazonSQS.SendMessageBatch":
		if !own(in["QueueUrl"]) {
			fail()
			return
		}
		entries, _ := in["Entries"].([]any)
		var ok []map[string]string
		for _, e := range entries {
			id, _ := e.(map[string]any)["Id"].(string)
			ok = append(ok, map[string]string{"Id": id, "MessageId": "m" + id, "MD5OfMessageBody": ""})
		}
		r.got[in["QueueUrl"].(string)] += len(entries)
		json.NewEncoder(w).Encode(map[string]any{"Successful": ok, "Failed": []any{}})
	default:
		fail()
	}
}

func (r *regionSQS) count(url string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[url]
}

func (r *regionSQS) client() *sqs.Client {
	// The fake computes no MD5 of the bodies: the SDK must not check them.
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(r.srv.URL), Credentials: aws.AnonymousCredentials{},
		DisableMessageChecksumValidation: true})
}

// TestPublisherDestinationsEachWithItsClient (issue 31, item 1): each region's queue is reached
// through that region's own SQS client — in AWS a client of us-east-1 cannot reach eu-west-1's
// queue — and queues are given by name (looked up through the destination's own client) or URL.
// Every event (first and second) reaches each destination's own server, and only it.
func TestPublisherDestinationsEachWithItsClient(t *testing.T) {
	us := newRegionSQS(t, "islands-us-east-1")
	eu := newRegionSQS(t, "islands-eu-west-1")
	usw2 := newRegionSQS(t, "islands-us-west-2")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := NewPublisherTo(ctx, []Destination{
		{Region: "eu-west-1", Client: eu.client(), Queue: "islands-eu-west-1"},             // a name
		{Region: "us-west-2", Client: usw2.client(), Queue: usw2.url("islands-us-west-2")}, // a URL
	}, &Destination{Region: "us-east-1", Client: us.client(), Queue: "islands-us-east-1"},
		PublisherOptions{SecondInvalidation: time.Second, FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 25
	for i := 0; i < n; i++ {
		if err := p.Publish(ctx, testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		srv  *regionSQS
		url  string
		want int
	}{
		{eu, eu.url("islands-eu-west-1"), 2 * n}, {usw2, usw2.url("islands-us-west-2"), 2 * n}, {us, us.url("islands-us-east-1"), n},
	} {
		if got := c.srv.count(c.url); got != c.want {
			t.Errorf("%s: %d messages, want %d", c.url, got, c.want)
		}
	}
	if p.Sent() == 0 || p.Dropped() != 0 {
		t.Errorf("sent %d dropped %d", p.Sent(), p.Dropped())
	}
}

// TestPublisherDestinationErrors: a destination without a client, or whose queue name its own
// region's SQS does not know, is refused at construction naming the region and the queue.
func TestPublisherDestinationErrors(t *testing.T) {
	eu := newRegionSQS(t, "islands-eu-west-1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := NewPublisherTo(ctx, []Destination{{Region: "eu-west-1", Queue: "islands-eu-west-1"}}, nil, PublisherOptions{})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "eu-west-1") {
		t.Errorf("no client: %v", err)
	}
	_, err = NewPublisherTo(ctx, []Destination{{Region: "eu-west-1", Client: eu.client(), Queue: "islands-us-east-1"}}, nil, PublisherOptions{})
	if err == nil || !strings.Contains(err.Error(), "eu-west-1") || !strings.Contains(err.Error(), "islands-us-east-1") {
		t.Errorf("unknown queue name: %v", err)
	}
}
