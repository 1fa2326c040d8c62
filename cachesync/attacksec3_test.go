package cachesync

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Attack (security review 3): dualwrite keeps member data out of its warnings because "a key may
// be an email" (shadow reads log a hash; the values at debug only). cachesync's keys are the same
// member data — an application caches "member:<email>" — and cachesync logs them as they are, at
// info, warn and error level, in ten places (client.go: a value too large to replicate, an old
// write, a failed local write, a touch not confirmed; agent.go: an event not applied, a value
// memcached refused; spill.go: events dropped or not spilled; publisher.go: a large event, a
// publish after Close). Here the commonest: a value over MaxValueBytes, logged at INFO by every
// Set of it.
func TestAttackSec3CacheKeyLoggedAsItIs(t *testing.T) {
	var logs bytes.Buffer
	c, err := NewClient(newFakeMemcache(time.Now), &recSink{}, ClientOptions{Region: "us-east-1", Rules: Rules{Default: Replicate},
		MaxValueBytes: 8, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(context.Background(), &Item{Key: "member:alice@example.com", Value: []byte("a profile larger than eight bytes")}); err != nil {
		t.Fatal(err)
	}
	t.Logf("log: %s", logs.String())
	if strings.Contains(logs.String(), "alice@example.com") {
		t.Errorf("the log shows the member's email (the cache key as it is), at info level")
	}
}
