package chaos

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/private/privatetest"
)

// The campaign's output (histories of keys and values, the children's logs, configs, reports)
// is 0600 (internal/private); its directories come from private.MkdirAll.
func TestFilesArePrivate(t *testing.T) {
	root := t.TempDir()
	rec, err := NewRecorder(filepath.Join(root, "history-campaign.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	rec.Record(Op{Process: "w", Type: "invoke", F: "write", Key: "k1", Value: "v1"})
	rec.Close()
	if _, err := NewControlFault(filepath.Join(root, "control.json"), Regions); err != nil {
		t.Fatal(err)
	}
	writeJSON(filepath.Join(root, "report.json"), Report{Seed: 1})
	if err := writeForkliftConfig(filepath.Join(root, "forklift.yaml"), Options{Keyspace: "chaos"}, "-1", nil); err != nil {
		t.Fatal(err)
	}
	c := &Child{Name: "true", Args: func(int) []string { return []string{"true"} }, Log: filepath.Join(root, "writer-us.log")}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Wait(10 * time.Second)
	if n := privatetest.CheckTree(t, root); n != 5 {
		t.Fatalf("%d files, want 5", n)
	}
}
