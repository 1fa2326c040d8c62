package cachesync

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/private/privatetest"
)

// The spill holds unsent cache events (member keys and values): 0600 files in 0700 directories
// (internal/private).
func TestFilesArePrivate(t *testing.T) {
	root := t.TempDir()
	p, err := NewPublisher(deadSQS(), []string{"http://127.0.0.1:1/q"},
		PublisherOptions{Buffer: 1, PublishTimeout: time.Millisecond, SpillDir: filepath.Join(root, "var", "spill")})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if err := p.Publish(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p.Close(ctx) // SQS is down: what is still buffered goes to the spill
	if total, _ := p.Spilled(); total == 0 {
		t.Fatal("nothing spilled")
	}
	privatetest.CheckTree(t, root)
}
