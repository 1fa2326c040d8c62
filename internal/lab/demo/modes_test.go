package demo

import (
	"path/filepath"
	"testing"

	"github.com/globalcloud/islands/internal/private/privatetest"
)

// The demo's output (demo.log, report.json, report.html) describes members: 0600 files in a 0700
// directory (internal/private).
func TestFilesArePrivate(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "demo-out")
	logf, err := openOut(out)
	if err != nil {
		t.Fatal(err)
	}
	logf.WriteString("member 1\n")
	logf.Close()
	if err := goldenReport(t).write(out); err != nil {
		t.Fatal(err)
	}
	if err := Render(out); err != nil {
		t.Fatal(err)
	}
	if n := privatetest.CheckTree(t, root); n != 3 {
		t.Fatalf("%d files, want 3 (demo.log, report.json, report.html)", n)
	}
}
