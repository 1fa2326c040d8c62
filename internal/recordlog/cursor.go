package recordlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/globalcloud/islands/internal/private"
)

const (
	cursorMagic   = "recordlog-cursor v1"
	cursorMagicV2 = "recordlog-cursor v2"
	cursorSlot    = 128 // bytes per slot; a v1 line is shorter, so slot 1 never overlaps it
	cursorBytes   = 2 * cursorSlot
)

// readCursor returns the newest valid cursor of the file at path: either slot of a v2 file, or a
// v1 line in slot 0 (generation 0). A file without a valid one is an error (reading starts at the
// oldest segment); no file is the zero position.
func (l *Log) readCursor(path string) (Pos, uint64, error) {
	f, err := l.openPrivate(path, os.O_RDONLY)
	if errors.Is(err, os.ErrNotExist) {
		return Pos{}, 0, nil
	}
	if err != nil {
		return Pos{}, 0, err
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return Pos{}, 0, err
	}
	var best Pos
	var bestGen uint64
	found := false
	var firstErr error
	for slot := 0; slot*cursorSlot < len(b) && slot < 2; slot++ {
		line := b[slot*cursorSlot : min(len(b), (slot+1)*cursorSlot)]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
		}
		if len(bytes.Trim(line, "\x00")) == 0 {
			continue // reserved, never written
		}
		p, gen, err := parseCursor(string(line))
		if err != nil {
			if firstErr == nil && slot == 0 {
				firstErr = err
			}
			continue
		}
		if !found || gen > bestGen {
			best, bestGen, found = p, gen, true
		}
	}
	if !found {
		if firstErr == nil && len(bytes.Trim(b, "\x00")) > 0 {
			firstErr = fmt.Errorf("cursor %q: not a cursor file", b)
		}
		return Pos{}, 0, firstErr
	}
	return best, bestGen, nil
}

// parseCursor parses one cursor line: v1 "MAGIC SEG OFF CRC\n" (generation 0) or v2
// "MAGIC GEN SEG OFF CRC\n".
func parseCursor(line string) (Pos, uint64, error) {
	var p Pos
	var gen uint64
	var sum uint32
	if rest, ok := strings.CutPrefix(line, cursorMagicV2+" "); ok {
		if _, err := fmt.Sscanf(rest, "%d %d %d %d\n", &gen, &p.Segment, &p.Offset, &sum); err != nil {
			return Pos{}, 0, fmt.Errorf("cursor %q: %w", line, err)
		}
		if sum != cursorSumV2(gen, p) || p.Offset < 0 {
			return Pos{}, 0, fmt.Errorf("cursor %q: checksum mismatch", line)
		}
		return p, gen, nil
	}
	rest, ok := strings.CutPrefix(line, cursorMagic+" ")
	if !ok {
		return Pos{}, 0, fmt.Errorf("cursor %q: not a cursor file", line)
	}
	if _, err := fmt.Sscanf(rest, "%d %d %d\n", &p.Segment, &p.Offset, &sum); err != nil {
		return Pos{}, 0, fmt.Errorf("cursor %q: %w", line, err)
	}
	if sum != cursorSum(p) || p.Offset < 0 {
		return Pos{}, 0, fmt.Errorf("cursor %q: checksum mismatch", line)
	}
	return p, 0, nil
}

func cursorSum(p Pos) uint32 {
	return crc32Update([]byte(fmt.Sprintf("%d %d", p.Segment, p.Offset)))
}

func cursorSumV2(gen uint64, p Pos) uint32 {
	return crc32Update([]byte(fmt.Sprintf("%d %d %d", gen, p.Segment, p.Offset)))
}

// openCursorFile opens the cursor file for writing in place and makes sure it spans both slots,
// so that recording progress never needs a new block: on a full disk the cursor can still move
// and free the consumed segments (invariant 5).
func (l *Log) openCursorFile() error {
	path := filepath.Join(l.dir, cursorName)
	_, statErr := os.Stat(path)
	f, err := private.OpenFile(path, os.O_RDWR)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err == nil && st.Size() < cursorBytes {
		pad := make([]byte, cursorBytes-st.Size())
		if _, err = f.WriteAt(pad, st.Size()); err == nil {
			err = f.Sync()
		}
		if err == nil && statErr != nil {
			err = syncDir(l.dir)
		}
	}
	if err != nil {
		f.Close()
		return err
	}
	l.cursorFile = f
	_ = os.Remove(filepath.Join(l.dir, cursorName+".tmp")) // left by the first format's rename
	return nil
}

// writeCursor records p durably: the next generation is written over the older of the two slots
// and fsynced. A torn write spoils only that slot; the other holds the previous cursor (records
// are then delivered again: at-least-once).
func (l *Log) writeCursor(p Pos) error {
	if l.cursorFile == nil {
		if err := l.openCursorFile(); err != nil {
			return err
		}
	}
	gen := l.cursorGen + 1
	line := fmt.Sprintf("%s %d %d %d %d\n", cursorMagicV2, gen, p.Segment, p.Offset, cursorSumV2(gen, p))
	buf := make([]byte, cursorSlot)
	copy(buf, line)
	if _, err := l.cursorFile.WriteAt(buf, int64(gen%2)*cursorSlot); err != nil {
		return err
	}
	if err := l.cursorFile.Sync(); err != nil {
		return err
	}
	l.cursorGen = gen
	return nil
}

// Commit records durably that every record up to pos (a position Read or Append returned) is
// consumed, and removes the segments wholly before it.
func (l *Log) Commit(pos Pos) error {
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.cursor.before(pos) {
		return nil // already consumed
	}
	i := l.segIndex(pos.Segment)
	if i < 0 || pos.Offset > l.segs[i].end || pos.Offset < l.segs[i].start ||
		pos.Seq < l.segs[i].firstSeq || pos.Seq > l.segs[i].firstSeq+l.segs[i].count {
		return fmt.Errorf("%w: %s", ErrBadPosition, pos)
	}
	// A position at the end of a sealed segment is the start of the next one.
	cur := pos
	if cur.Offset == l.segs[i].end && i+1 < len(l.segs) {
		cur = Pos{Segment: l.segs[i+1].num, Offset: l.segs[i+1].start, Seq: pos.Seq}
		i++
	}
	if err := l.writeCursor(cur); err != nil {
		return fmt.Errorf("recordlog: writing the cursor in %s: %w", l.dir, err)
	}
	var freed int64
	for _, s := range l.segs[:i] {
		freed += s.end - s.start
		if err := os.Remove(l.segPath(s.num)); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.logger.Warn("recordlog: removing a consumed segment", "segment", l.segPath(s.num), "err", err)
		}
	}
	freed += cur.Offset - l.segs[i].start
	l.segs = append(l.segs[:0], l.segs[i:]...)
	l.segs[0].count -= cur.Seq - l.segs[0].firstSeq
	l.segs[0].start, l.segs[0].firstSeq = cur.Offset, cur.Seq
	l.pending -= freed
	l.cursor = cur
	if l.readPos.before(cur) {
		l.readPos = cur
	}
	return nil
}
