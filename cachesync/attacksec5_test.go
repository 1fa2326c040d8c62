package cachesync

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/bradfitz/gomemcache/memcache"
)

// casAlwaysConflicts is memcached under a burst of writers to one key: every CAS loses.
type casAlwaysConflicts struct{ *fakeMemcache }

func (casAlwaysConflicts) CompareAndSwap(*memcache.Item) error { return memcache.ErrCASConflict }

// Attack (security review 5): docs/security.md, "cachesync logs a key as key_hash only", and the
// touch path keeps to it (agent.go: errContention "key_hash …", "logged at warn: the key itself is
// not"). store and voidAt (apply.go) do not: after 16 lost CAS rounds they return errContention
// with the key as it is ("%w: %s", key), and the agent logs that error at WARN beside the key_hash
// ("cachesync: event not applied; it comes back for a retry", err=…: member:<email>). A hot key —
// the one most writers touch at once — is exactly the one this happens to.
func TestAttackSec5ContendedSetLogsTheKeyInItsError(t *testing.T) {
	const key = "member:alice@example.com"
	now := time.Now
	mc := casAlwaysConflicts{newFakeMemcache(now)}
	// A value already held, so a set compares and swaps (and loses, every time).
	old := Stored{Version: Version{Micros: now().Add(-time.Minute).UnixMicro(), Origin: "eu-west-1"}, Kind: KindValue, Value: []byte("old")}
	if err := mc.Add(&memcache.Item{Key: key, Value: old.Encode(), Flags: FlagVersioned}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	f := newFakeSQS(t)
	a, err := NewAgent(f.client(), f.url("islands-us-east-1"), mc, AgentOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ev := &Event{Format: EventFormat, ID: "1", Op: OpSet, Key: key, Value: []byte("new profile"),
		Version: Version{Micros: now().UnixMicro(), Origin: "us-west-2"}}
	body, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if a.handleOne(ctx, types.Message{MessageId: aws.String("m1"), Body: aws.String(string(body)), ReceiptHandle: aws.String("r1")}) {
		t.Fatal("the contended set was applied: the test's premise does not hold")
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "alice@example.com") && !strings.Contains(line, "level=DEBUG") {
			t.Errorf("a warn line shows the cache key (member data) as it is: %s", line)
		}
	}
}
