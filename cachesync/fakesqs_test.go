package cachesync

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// fakeSQS answers SendMessage and SendMessageBatch (SQS's JSON protocol, as the SDK speaks it)
// and counts what each queue accepted. A queue marked down answers 500 InternalError to every
// call, as a region whose SQS is out; the SDK does not retry (the Publisher does).
type fakeSQS struct {
	srv *httptest.Server

	mu       sync.Mutex
	down     map[string]bool
	received map[string]map[string]int // queue URL → message body → times accepted
	failed   map[string]int            // queue URL → calls refused
}

func newFakeSQS(t *testing.T) *fakeSQS {
	f := &fakeSQS{down: map[string]bool{}, received: map[string]map[string]int{}, failed: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// client is an SQS client of the fake, without the SDK's retries.
func (f *fakeSQS) client() *sqs.Client {
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.srv.URL), Credentials: aws.AnonymousCredentials{},
		RetryMaxAttempts: 1, DisableMessageChecksumValidation: true})
}

func (f *fakeSQS) url(name string) string { return f.srv.URL + "/000000000000/" + name }

func (f *fakeSQS) setDown(url string, down bool) {
	f.mu.Lock()
	f.down[url] = down
	f.mu.Unlock()
}

// counts returns how many times each body was accepted by url.
func (f *fakeSQS) counts(url string) map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for b, n := range f.received[url] {
		out[b] = n
	}
	return out
}

func (f *fakeSQS) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	var in struct {
		QueueUrl    string
		MessageBody string
		Entries     []struct{ Id, MessageBody string }
	}
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if f.down[in.QueueUrl] {
		f.failed[in.QueueUrl]++
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"__type":"com.amazonaws.sqs#InternalError","message":"queue down"}`)
		return
	}
	if f.received[in.QueueUrl] == nil {
		f.received[in.QueueUrl] = map[string]int{}
	}
	switch op {
	case "SendMessage":
		f.received[in.QueueUrl][in.MessageBody]++
		fmt.Fprint(w, `{"MessageId":"m"}`)
	case "SendMessageBatch":
		var ok []map[string]string
		for _, e := range in.Entries {
			f.received[in.QueueUrl][e.MessageBody]++
			ok = append(ok, map[string]string{"Id": e.Id, "MessageId": "m" + e.Id})
		}
		b, _ := json.Marshal(map[string]any{"Successful": ok, "Failed": []any{}})
		w.Write(b)
	default:
		http.Error(w, "unsupported "+op, http.StatusBadRequest)
	}
}

func sqsMessage(body string) types.Message {
	return types.Message{Body: aws.String(body), ReceiptHandle: aws.String("rh"), MessageId: aws.String("m")}
}
