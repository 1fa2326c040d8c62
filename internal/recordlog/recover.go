package recordlog

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/globalcloud/islands/internal/private"
)

// recover reads the cursor, scans the segments from it and cuts the newest one's invalid tail.
func (l *Log) recover() error {
	names, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var nums []uint64
	for _, e := range names {
		name := e.Name()
		if !strings.HasSuffix(name, segSuffix) {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64); err == nil && n > 0 {
			nums = append(nums, n)
		}
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })

	cur, gen, err := l.readCursor(filepath.Join(l.dir, cursorName))
	l.cursorGen = gen
	if errors.Is(err, private.ErrNotOurs) {
		return err
	}
	if err != nil {
		l.logger.Error("recordlog: cursor unreadable; reading from the oldest segment (records are delivered again)",
			"dir", l.dir, "err", err)
		cur = Pos{}
		l.corrupt++
	}
	// Segments wholly before the cursor were consumed; a crash between the cursor's rename and
	// their removal leaves them behind.
	for len(nums) > 0 && nums[0] < cur.Segment {
		if !l.opts.ReadOnly {
			if err := os.Remove(l.segPath(nums[0])); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		nums = nums[1:]
	}
	if len(nums) == 0 || nums[0] != cur.Segment {
		// The cursor's segment is gone (or there is no cursor): read from the oldest segment.
		next := uint64(1)
		if len(nums) > 0 {
			next = nums[0]
		} else if cur.Segment > 0 {
			next = cur.Segment + 1
		}
		cur = Pos{Segment: next}
	}
	l.cursor = cur
	var seq int64
	for i, n := range nums {
		start := int64(0)
		if n == cur.Segment {
			start = cur.Offset
		}
		end, count, size, err := l.scanSegment(l.segPath(n), start, l.opts.MaxRecord)
		if err != nil {
			return err
		}
		if n == cur.Segment && end < start {
			end = start
		}
		if size > end {
			l.corrupt++
			if i == len(nums)-1 {
				l.logger.Warn("recordlog: cutting an invalid tail (a crash in mid-append, never acknowledged)",
					"segment", l.segPath(n), "valid_bytes", end, "cut_bytes", size-end)
				if !l.opts.ReadOnly {
					if err := l.truncateSync(l.segPath(n), end); err != nil {
						return err
					}
				}
			} else {
				l.logger.Error("recordlog: corrupt records in a sealed segment; skipping the rest of it",
					"segment", l.segPath(n), "valid_bytes", end, "skipped_bytes", size-end)
			}
		}
		l.segs = append(l.segs, segment{num: n, start: start, end: end, firstSeq: seq, count: count})
		seq += count
		l.pending += end - start
	}
	if len(l.segs) == 0 {
		l.needNew = true
		l.writeSeg = cur.Segment - 1 // the writer creates cur.Segment
		l.segs = nil
	} else {
		// Appends go to a new segment (invariant 6): an earlier process may have left a failed,
		// uncut record past the newest segment's valid end, at a position it reported
		// (UncutError.At); appending there would give that position to another record.
		l.writeSeg = l.segs[len(l.segs)-1].num
		l.needNew = true
	}
	l.cursor.Seq = 0
	l.readPos = l.cursor
	return nil
}

// scanSegment returns where the valid records from start end, how many there are, and the file size.
func (l *Log) scanSegment(path string, start int64, maxRecord int) (end, count, size int64, err error) {
	f, err := l.openPrivate(path, os.O_RDONLY)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, 0, err
	}
	size = st.Size()
	if start > size {
		return start, 0, size, nil
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, start, size-start), 64<<10)
	end = start
	for {
		p, err := readRecord(r, maxRecord)
		if err == io.EOF || errors.Is(err, errInvalid) {
			return end, count, size, nil
		}
		if err != nil {
			return 0, 0, 0, err
		}
		end += headerSize + int64(len(p))
		count++
	}
}

func (l *Log) truncateSync(path string, size int64) error {
	f, err := l.openPrivate(path, os.O_WRONLY)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
