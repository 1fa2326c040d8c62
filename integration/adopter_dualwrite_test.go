package integration

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/globalcloud/islands/dualwrite"
)

// TestDualwriteOpenNamesMissingKeyspace (issue 31): a side whose config names a keyspace that does
// not exist fails Open with ErrNoKeyspace naming the side and the keyspace, not gocql's "no
// connections were made when creating the session".
func TestDualwriteOpenNamesMissingKeyspace(t *testing.T) {
	e := needServices(t)
	const missing = "islands_no_such_keyspace_31"
	_, err := dualwrite.Open(waitCtx(t, time.Minute), dwCluster(e.USCQL, ""), dwCluster(e.EUCQL, missing),
		dualwrite.WithReplayDir(t.TempDir()))
	if err == nil {
		t.Fatal("Open succeeded with a missing keyspace on the secondary side")
	}
	t.Logf("Open: %v", err)
	if !errors.Is(err, dualwrite.ErrNoKeyspace) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "secondary") {
		t.Fatalf("got %v, want ErrNoKeyspace naming the secondary side and %s", err, missing)
	}
}
