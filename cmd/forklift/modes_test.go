package main

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/globalcloud/islands/forklift"
	"github.com/globalcloud/islands/internal/private/privatetest"
)

// --report files hold keys and values of member rows (verify's samples): 0600 (internal/private).
func TestFilesArePrivate(t *testing.T) {
	root := t.TempDir()
	c := &common{reportPath: filepath.Join(root, "report.json")}
	out := verifyOutput{&forklift.VerifyReport{RunID: "r1", Tables: []forklift.TableVerification{{Table: "island.profiles",
		Samples: []forklift.Difference{{Kind: "missing", Key: "7", Column: "plan", Source: `"gold" @5`}}}}}}
	for range 2 { // the second run finds the file and keeps it 0600
		if err := c.output(io.Discard, out); err != nil {
			t.Fatal(err)
		}
	}
	if n := privatetest.CheckTree(t, root); n != 1 {
		t.Fatalf("%d files, want 1", n)
	}
}
