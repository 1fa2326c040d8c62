package dualwrite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/internal/private"
)

// The replay log's first format (before internal/recordlog): DIR/seg-NNNNNNNNNNNN.log files of
// records [length 4][CRC-32C of the payload 4][gob Entry] and a text cursor "SEG OFFSET". A
// directory left in that format by an earlier version is imported on open: its files are moved to
// DIR/legacy-v0/, every entry after its cursor is appended to the new log, then the directory is
// removed. A crash in between imports again (entries replayed twice are harmless), never loses.

const legacyDir = "legacy-v0"

func init() {
	// The value types the first format registered with gob, so that its entries decode.
	for _, v := range []any{
		time.Time{}, gocql.UUID{}, &big.Int{}, time.Duration(0),
		map[string]string{}, map[string]int{}, map[string]int64{}, map[string]bool{}, map[string]float64{},
		map[int]string{}, map[gocql.UUID]string{}, []gocql.UUID{}, []time.Time{}, map[string][]byte{},
	} {
		gob.Register(v)
	}
}

// moveLegacy moves first-format files into DIR/legacy-v0 and reports whether there is anything
// there to import.
func moveLegacy(dir string, log *slog.Logger) (bool, error) {
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	ld := filepath.Join(dir, legacyDir)
	if len(segs) > 0 {
		if err := private.MkdirAll(ld, log); err != nil {
			return false, err
		}
		cur := filepath.Join(dir, "cursor")
		if b, err := os.ReadFile(cur); err == nil && !strings.HasPrefix(string(b), "recordlog-cursor") {
			segs = append(segs, cur)
		}
		for _, p := range segs {
			// Like recordlog's files (its invariant 8): no symlink, none of another user's, whose
			// entries would otherwise be replayed as the application's writes.
			f, err := private.OpenOwned(p, os.O_RDONLY, os.Geteuid())
			if err != nil {
				return false, fmt.Errorf("first-format file: %w", err)
			}
			f.Close()
			if err := os.Rename(p, filepath.Join(ld, filepath.Base(p))); err != nil {
				return false, err
			}
		}
		for _, d := range []string{ld, dir} {
			if f, err := os.Open(d); err == nil {
				f.Sync()
				f.Close()
			}
		}
	}
	_, err := os.Stat(ld)
	return err == nil, nil
}

// importLegacy appends the first format's pending entries to l and removes DIR/legacy-v0.
func (l *FileLog) importLegacy() error {
	ld := filepath.Join(l.dir, legacyDir)
	if _, err := private.DirOwner(ld, true); err != nil {
		return err
	}
	var curSeg uint64
	var curOff int64
	if f, err := private.OpenOwned(filepath.Join(ld, "cursor"), os.O_RDONLY, os.Geteuid()); err == nil {
		b, _ := io.ReadAll(f)
		f.Close()
		fmt.Sscanf(string(b), "%d %d", &curSeg, &curOff)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	segs, _ := filepath.Glob(filepath.Join(ld, "seg-*.log"))
	sort.Strings(segs)
	n := 0
	for _, p := range segs {
		var num uint64
		fmt.Sscanf(filepath.Base(p), "seg-%d.log", &num)
		if num < curSeg {
			continue
		}
		start := int64(0)
		if num == curSeg {
			start = curOff
		}
		f, err := private.OpenOwned(p, os.O_RDONLY, os.Geteuid())
		if err != nil {
			return err
		}
		f.Seek(start, io.SeekStart)
		r := bufio.NewReader(f)
		for {
			payload, err := readLegacyRecord(r)
			if err != nil {
				break // the end, or the torn tail of a crash
			}
			var e Entry
			if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(&e); err != nil {
				l.logger.Error("dualwrite: a first-format replay entry cannot be decoded; skipped", "segment", p, "err", err)
				continue
			}
			if err := l.Append(context.Background(), &e); err != nil {
				f.Close()
				return err
			}
			n++
		}
		f.Close()
	}
	l.logger.Info("dualwrite: imported the replay log's first format", "dir", l.dir, "entries", n)
	return os.RemoveAll(ld)
}

func readLegacyRecord(r io.Reader) ([]byte, error) {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n == 0 || n > 1<<30 {
		return nil, errors.New("bad length")
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, err
	}
	if crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)) != binary.BigEndian.Uint32(h[4:]) {
		return nil, errors.New("bad checksum")
	}
	return payload, nil
}
