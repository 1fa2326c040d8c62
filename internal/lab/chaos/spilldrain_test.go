package chaos

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/globalcloud/islands/cachesync"
)

// spillSQS answers SendMessage and SendMessageBatch in SQS's JSON protocol (with the MD5 of each
// body, as ElasticMQ does and the SDK checks) and keeps every body each queue accepted. While down
// it answers 500 InternalError to every call, as a killed ElasticMQ behind its port would not, but
// as an SQS out of service does: the Publisher retries and spills either way.
type spillSQS struct {
	srv  *httptest.Server
	mu   sync.Mutex
	down bool
	got  map[string]map[string]int // queue URL -> body -> times accepted
}

func newSpillSQS(t *testing.T) *spillSQS {
	f := &spillSQS{got: map[string]map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *spillSQS) setDown(d bool) { f.mu.Lock(); f.down = d; f.mu.Unlock() }

func (f *spillSQS) bodies(url string) map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for b, n := range f.got[url] {
		out[b] = n
	}
	return out
}

func md5hex(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

func (f *spillSQS) serve(w http.ResponseWriter, r *http.Request) {
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
	if f.down {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"__type":"com.amazonaws.sqs#InternalError","message":"down"}`)
		return
	}
	if f.got[in.QueueUrl] == nil {
		f.got[in.QueueUrl] = map[string]int{}
	}
	switch op {
	case "SendMessage":
		f.got[in.QueueUrl][in.MessageBody]++
		b, _ := json.Marshal(map[string]string{"MessageId": "m", "MD5OfMessageBody": md5hex(in.MessageBody)})
		w.Write(b)
	case "SendMessageBatch":
		var ok []map[string]string
		for _, e := range in.Entries {
			f.got[in.QueueUrl][e.MessageBody]++
			ok = append(ok, map[string]string{"Id": e.Id, "MessageId": "m" + e.Id, "MD5OfMessageBody": md5hex(e.MessageBody)})
		}
		b, _ := json.Marshal(map[string]any{"Successful": ok, "Failed": []any{}})
		w.Write(b)
	default:
		http.Error(w, "unsupported "+op, http.StatusBadRequest)
	}
}

// spillWriter returns a writer's config routed to the fake (one other region, its own queue) and
// runs that writer's publisher while the fake is down: it publishes n invalidations and closes,
// leaving them in its spill as a writer whose destinations' ElasticMQ died near the end does.
func spillWriter(t *testing.T, f *spillSQS, n int) (WriterConfig, []string) {
	t.Helper()
	dir := t.TempDir()
	cfg := WriterConfig{Name: "us", Region: "us-east-1", ReplayDir: filepath.Join(dir, "replay-us"),
		Own:          QueueRoute{Region: "us-east-1", Endpoint: f.srv.URL, URL: f.srv.URL + "/000000000000/chaos-us-east-1"},
		Destinations: []QueueRoute{{Region: "eu-west-1", Endpoint: f.srv.URL, URL: f.srv.URL + "/000000000000/chaos-eu-west-1"}},
		TombstoneTTL: 2 * time.Second, SecondInvalidation: 5 * time.Second}
	f.setDown(true)
	ctx := context.Background()
	pub, err := openWriterPublisher(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for i := range n {
		ev := &cachesync.Event{Format: cachesync.EventFormat, ID: fmt.Sprintf("ev-%d", i), Op: cachesync.OpInvalidate,
			Key: RowKey(i), Version: cachesync.Version{Micros: int64(i + 1), Origin: "us-east-1"}}
		if err := pub.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		b, _ := ev.Marshal()
		bodies = append(bodies, string(b))
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	pub.Close(cctx) // its deadline passes with SQS down: the rest is spilled (the error says so)
	return cfg, bodies
}

func spillTotal(dir string) int64 {
	var n int64
	for _, v := range spillLeftovers(dir) {
		n += v
	}
	return n
}

// A writer's spill left at the end of a run is sent by the campaign's end-of-run publisher once
// SQS is back, and the spill check then finds nothing: every event reached its queue.
func TestSpillDrainSendsWhatAWriterLeft(t *testing.T) {
	f := newSpillSQS(t)
	cfg, bodies := spillWriter(t, f, 200)
	dir := filepath.Dir(cfg.ReplayDir)
	left := spillTotal(dir)
	if left == 0 {
		t.Fatal("the writer's publisher spilled nothing while SQS was down: the test proves nothing")
	}
	f.setDown(false)
	got := drainWriterSpills(context.Background(), []WriterConfig{cfg}, 30*time.Second)
	d, ok := got[SpillDir(cfg)]
	if !ok {
		t.Fatalf("no drain recorded for %s: %v", SpillDir(cfg), got)
	}
	if d.Err != "" || d.Left != 0 || d.Before != left || d.Drained != left {
		t.Fatalf("drain = %+v, want all %d spilled events drained", d, left)
	}
	if n := spillTotal(dir); n != 0 {
		t.Fatalf("the spill check still finds %d events after the drain: %v", n, spillLeftovers(dir))
	}
	other := f.bodies(cfg.Destinations[0].URL)
	for _, b := range bodies {
		if other[b] == 0 {
			t.Fatalf("event %s never reached %s", b, cfg.Destinations[0].URL)
		}
	}
}

// A spill that cannot be sent within the bound stays: the drain reports it left, and the spill
// check still finds it on disk (a violation), however the drain went.
func TestSpillDrainLeavesWhatItCannotSend(t *testing.T) {
	f := newSpillSQS(t)
	cfg, _ := spillWriter(t, f, 50)
	dir := filepath.Dir(cfg.ReplayDir)
	left := spillTotal(dir)
	if left == 0 {
		t.Fatal("nothing spilled")
	}
	d := drainWriterSpills(context.Background(), []WriterConfig{cfg}, time.Second)[SpillDir(cfg)]
	if d.Before != left || d.Left != left || d.Drained != 0 || d.Err == "" {
		t.Fatalf("drain = %+v, want %d left with an error", d, left)
	}
	if n := spillTotal(dir); n != left {
		t.Fatalf("spill check finds %d events, want the %d the drain could not send", n, left)
	}
}

// A publisher that cannot be opened drains nothing and says why.
func TestSpillDrainOpenFails(t *testing.T) {
	d := drainSpill(context.Background(), func(context.Context) (spillPublisher, error) { return nil, errors.New("no queue") }, time.Second, time.Millisecond)
	if d.Err == "" || d.Before != 0 || d.Drained != 0 {
		t.Fatalf("drain = %+v", d)
	}
}
