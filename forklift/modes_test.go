package forklift

import (
	"path/filepath"
	"testing"

	"github.com/globalcloud/islands/internal/private/privatetest"
)

// The quarantine file holds both versions of member rows: 0600 (internal/private).
func TestFilesArePrivate(t *testing.T) {
	root := t.TempDir()
	f, err := openQuarantineFile(filepath.Join(root, "quarantine.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if n := privatetest.CheckTree(t, root); n != 1 {
		t.Fatalf("%d files, want 1", n)
	}
}
