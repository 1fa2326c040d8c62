package recordlogtest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func file(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "0000000000000001.seg")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func want(t *testing.T, path string, w []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, w) {
		t.Fatalf("file holds %v, want %v", got, w)
	}
}

func TestDamage(t *testing.T) {
	p := file(t, []byte{1, 2, 3, 4, 5})
	Append(t, p, []byte{6, 7})
	want(t, p, []byte{1, 2, 3, 4, 5, 6, 7})
	FlipBit(t, p, 1, 6)
	want(t, p, []byte{1, 2 ^ 0x40, 3, 4, 5, 6, 7})
	FlipBit(t, p, 7, 0) // beyond the end: nothing
	want(t, p, []byte{1, 2 ^ 0x40, 3, 4, 5, 6, 7})
	Overwrite(t, p, 2, []byte{9, 9})
	want(t, p, []byte{1, 2 ^ 0x40, 9, 9, 5, 6, 7})
	ZeroFill(t, p, 4)
	want(t, p, []byte{1, 2 ^ 0x40, 9, 9, 0, 0, 0})
	ZeroFill(t, p, 9) // beyond the end: nothing
	if Size(t, p) != 7 {
		t.Fatalf("size %d, want 7", Size(t, p))
	}
	Cut(t, p, 3)
	want(t, p, []byte{1, 2 ^ 0x40, 9})
}

// The damage is done in place: a file already open sees it.
func TestDamageInPlace(t *testing.T) {
	p := file(t, []byte{1, 2, 3})
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	FlipBit(t, p, 0, 0)
	b := make([]byte, 3)
	if _, err := f.ReadAt(b, 0); err != nil || !bytes.Equal(b, []byte{0, 2, 3}) {
		t.Fatalf("the open file reads %v (%v), want [0 2 3]", b, err)
	}
}

func TestLastFile(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"seg-000000000002.log", "0000000000000001.seg", "0000000000000002.seg", "cursor"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o600)
	}
	if got := LastFile(t, dir, "*.seg"); filepath.Base(got) != "0000000000000002.seg" {
		t.Fatalf("LastFile *.seg = %s", got)
	}
	if got := LastFile(t, dir, "seg-*.log", "*.seg"); filepath.Base(got) != "0000000000000002.seg" {
		t.Fatalf("LastFile seg-*.log, *.seg = %s: the later pattern wins", got)
	}
	if got := LastFile(t, dir, "seg-*.log", "*.none"); filepath.Base(got) != "seg-000000000002.log" {
		t.Fatalf("LastFile seg-*.log, *.none = %s", got)
	}
}
