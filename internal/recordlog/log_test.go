package recordlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/globalcloud/islands/internal/recordlog/recordlogtest"
)

func open(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func payload(i int) []byte { return []byte(fmt.Sprintf("record-%d-%s", i, strings.Repeat("x", i%37))) }

func appendRange(t testing.TB, l *Log, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := l.Append(context.Background(), payload(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

// readAll reads every record left, failing if a Read takes more than a second (a loop).
func readAll(t testing.TB, l *Log) []Record {
	t.Helper()
	var all []Record
	for {
		done := make(chan struct{})
		var recs []Record
		var err error
		go func() { recs, err = l.Read(100); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Read does not return (loops)")
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if len(recs) == 0 {
			return all
		}
		all = append(all, recs...)
	}
}

func wantPayloads(t testing.TB, recs []Record, from, to int) {
	t.Helper()
	if len(recs) != to-from {
		t.Fatalf("read %d records, want %d (%d..%d)", len(recs), to-from, from, to)
	}
	for i, r := range recs {
		if !bytes.Equal(r.Payload, payload(from+i)) {
			t.Fatalf("record %d is %q, want %q", i, r.Payload, payload(from+i))
		}
	}
}

func TestAppendReadCommitReopen(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{SegmentBytes: 512})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g * 50; i < g*50+50; i++ {
				if _, err := l.Append(context.Background(), payload(i)); err != nil {
					t.Error(err)
				}
			}
		}(g)
	}
	wg.Wait()
	if st := l.Stats(); st.Records != 200 || st.Unread != 200 || st.Segments < 5 {
		t.Fatalf("stats %+v, want 200 records over several segments", st)
	}
	recs, err := l.Read(70)
	if err != nil || len(recs) != 70 {
		t.Fatalf("read: %d %v", len(recs), err)
	}
	if err := l.Commit(recs[69].Pos); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Records != 130 || st.Unread != 130 {
		t.Fatalf("stats after commit %+v, want 130", st)
	}
	rest := readAll(t, l)
	if len(rest) != 130 {
		t.Fatalf("read %d after the first 70, want 130", len(rest))
	}
	l.Close()

	l = open(t, dir, Options{SegmentBytes: 512})
	again := readAll(t, l)
	if len(again) != 130 {
		t.Fatalf("after reopen read %d, want the 130 not committed", len(again))
	}
	for i := range again {
		if !bytes.Equal(again[i].Payload, rest[i].Payload) {
			t.Fatalf("record %d differs after reopen", i)
		}
	}
	if err := l.Commit(again[len(again)-1].Pos); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Records != 0 || st.Bytes != 0 || st.Segments != 1 {
		t.Fatalf("stats after committing all %+v", st)
	}
	appendRange(t, l, 500, 510)
	wantPayloads(t, readAll(t, l), 500, 510)
}

func TestRewindAndPeek(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	appendRange(t, l, 0, 5)
	if r, ok, err := l.Peek(); err != nil || !ok || !bytes.Equal(r.Payload, payload(0)) {
		t.Fatalf("peek: %q %v %v", r.Payload, ok, err)
	}
	recs := readAll(t, l)
	l.Commit(recs[1].Pos)
	l.Rewind()
	wantPayloads(t, readAll(t, l), 2, 5)
	if r, _, _ := l.Peek(); !bytes.Equal(r.Payload, payload(2)) {
		t.Fatalf("peek after commit: %q", r.Payload)
	}
}

// lastSeg returns the newest segment's path.
func lastSeg(t testing.TB, dir string) string { return recordlogtest.LastFile(t, dir, "*"+segSuffix) }

// A crash after the file grew but before its data reached the disk leaves zeros (ext4, xfs).
func TestZeroFilledTailIsCut(t *testing.T) {
	for _, n := range []int{1, headerSize - 1, headerSize, headerSize + 1, 4096} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			l := open(t, dir, Options{})
			appendRange(t, l, 0, 3)
			l.Close()
			recordlogtest.Append(t, lastSeg(t, dir), make([]byte, n))
			l = open(t, dir, Options{})
			if st := l.Stats(); st.Records != 3 || st.Corrupt != 1 {
				t.Fatalf("stats %+v, want 3 records and one cut tail", st)
			}
			appendRange(t, l, 3, 5)
			wantPayloads(t, readAll(t, l), 0, 5)
		})
	}
}

// Flipping any bit of a durable record while the log is open (a media error) never makes Read
// loop and never yields a record that was not appended; later appends are read.
func TestCorruptionWhileOpenIsSkipped(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	appendRange(t, l, 0, 3)
	seg := lastSeg(t, dir)
	recordlogtest.FlipBit(t, seg, recordlogtest.Size(t, seg)/2, 6)
	got := readAll(t, l)
	if len(got) > 3 {
		t.Fatalf("read %d records of 3", len(got))
	}
	wantPayloads(t, got, 0, len(got))
	if l.Stats().Corrupt != 1 {
		t.Fatalf("corruption not counted: %+v", l.Stats())
	}
	appendRange(t, l, 3, 4)
	wantPayloads(t, readAll(t, l), 3, 4)
	done := make(chan struct{})
	go func() { l.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
}

func TestCursorSurvivesAndCorruptCursorRedelivers(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{SegmentBytes: 256})
	appendRange(t, l, 0, 40)
	recs := readAll(t, l)
	if err := l.Commit(recs[29].Pos); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = open(t, dir, Options{SegmentBytes: 256})
	wantPayloads(t, readAll(t, l), 30, 40)
	l.Close()

	os.WriteFile(filepath.Join(dir, cursorName), []byte("recordlog-cursor v1 9 9 9\n"), 0o600)
	l = open(t, dir, Options{SegmentBytes: 256})
	got := readAll(t, l)
	if len(got) < 10 {
		t.Fatalf("with a corrupt cursor read %d records, want at least the 10 not consumed", len(got))
	}
	wantPayloads(t, got[len(got)-10:], 30, 40)
}

func TestFull(t *testing.T) {
	l := open(t, t.TempDir(), Options{MaxBytes: 200})
	var err error
	for i := 0; i < 20 && err == nil; i++ {
		_, err = l.Append(context.Background(), payload(i))
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("want ErrFull, got %v", err)
	}
	recs := readAll(t, l)
	l.Commit(recs[len(recs)-1].Pos)
	if _, err := l.Append(context.Background(), payload(0)); err != nil {
		t.Fatalf("append after commit freed room: %v", err)
	}
}

func TestLockedAndReadOnly(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	appendRange(t, l, 0, 3)
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second writer: want ErrLocked, got %v", err)
	}
	ro := open(t, dir, Options{ReadOnly: true})
	wantPayloads(t, readAll(t, ro), 0, 3)
	if _, err := ro.Append(context.Background(), nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only append: %v", err)
	}
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l := open(t, dir, Options{})
	appendRange(t, l, 0, 2)
	recs := readAll(t, l)
	l.Commit(recs[0].Pos)
	l.Close()
	st, _ := os.Stat(dir)
	if st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", st.Mode().Perm())
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, p := range m {
		st, _ := os.Stat(p)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", filepath.Base(p), st.Mode().Perm())
		}
	}
	os.Chmod(dir, 0o755)
	var logs bytes.Buffer
	open(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if !strings.Contains(logs.String(), "open to other users") {
		t.Fatalf("no warning for a 0755 directory: %q", logs.String())
	}
}

// A segment that cannot be created fails the append; the next append tries again.
func TestFailedSegmentOpenIsRetried(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l := open(t, dir, Options{})
	os.RemoveAll(dir)
	if _, err := l.Append(context.Background(), payload(0)); err == nil {
		t.Fatal("append into a removed directory succeeded")
	}
	os.MkdirAll(dir, 0o700)
	if _, err := l.Append(context.Background(), payload(1)); err != nil {
		t.Fatalf("append after the directory came back: %v", err)
	}
	wantPayloads(t, readAll(t, l), 1, 2)
}

// The wait for the group's fsync is bounded by the caller's context.
func TestAppendWaitBoundedByContext(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	appendRange(t, l, 0, 1)
	l.mu.Lock() // the writer cannot finish a group
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := l.Append(ctx, payload(1))
	l.mu.Unlock()
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("append with a stuck writer: %v after %s", err, time.Since(start))
	}
}

// Close never hangs, also with appends queued; every append returns nil (durable, readable after
// reopen) or an error, and appends after Close fail with ErrClosed. Run under -race.
func TestCloseRacesAppends(t *testing.T) {
	for round := 0; round < 20; round++ {
		dir := t.TempDir()
		l, err := Open(dir, Options{SegmentBytes: 4096})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		acked := map[string]bool{}
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; ; i++ {
					p := []byte(fmt.Sprintf("%d-%d", g, i))
					_, err := l.Append(context.Background(), p)
					if err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("append: %v", err)
						}
						return
					}
					mu.Lock()
					acked[string(p)] = true
					mu.Unlock()
				}
			}(g)
		}
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		done := make(chan struct{})
		go func() { l.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Close hangs with appends queued")
		}
		wg.Wait()
		if _, err := l.Append(context.Background(), []byte("late")); !errors.Is(err, ErrClosed) {
			t.Fatalf("append after Close: %v", err)
		}
		l2 := open(t, dir, Options{SegmentBytes: 4096})
		got := map[string]bool{}
		for _, r := range readAll(t, l2) {
			got[string(r.Payload)] = true
		}
		for p := range acked {
			if !got[p] {
				t.Fatalf("round %d: acknowledged record %q lost", round, p)
			}
		}
		l2.Close()
	}
}

// A read-only open beside a torn tail reads the valid records and changes nothing on disk.
func TestReadOnlyLeavesTheFilesAlone(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	appendRange(t, l, 0, 3)
	l.Close()
	seg := lastSeg(t, dir)
	recordlogtest.Append(t, seg, []byte{1, 2, 3})
	before, _ := os.ReadFile(seg)
	ro := open(t, dir, Options{ReadOnly: true})
	wantPayloads(t, readAll(t, ro), 0, 3)
	if err := ro.Commit(Pos{}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only commit: %v", err)
	}
	ro.Close()
	after, _ := os.ReadFile(seg)
	if !bytes.Equal(before, after) {
		t.Fatal("a read-only open changed the segment")
	}
}
