// Package recordlog is a crash-safe, append-only log of opaque records kept in segment files in one
// directory, with a durable read cursor. dualwrite's replay log and cachesync's spill of unsent
// events are built on it.
//
// # Files
//
//	DIR/LOCK                     flock'd by the one process that writes (Open); read-only opens skip it
//	DIR/0000000000000001.seg     segments, numbered from 1, appended in order, never rewritten
//	DIR/cursor                   two 128-byte slots, each "recordlog-cursor v2 GEN SEGMENT OFFSET CRC\n"
//	                             (zero-padded): the valid slot of the highest GEN says where the
//	                             unconsumed records start (a first-format file holds one
//	                             "recordlog-cursor v1 SEGMENT OFFSET CRC\n" line, read as GEN 0)
//
// Files are created 0600, the directory 0700, by internal/private (an existing looser directory is
// kept, with a warning).
//
// # Record format
//
// A segment is a sequence of records, each a 12-byte header followed by the payload:
//
//	+---------+---------+------+----------+------------------+
//	| crc (4) | len (4) | kind | reserved | payload (len)    |
//	|         |         | (1)  | (3) = 0  |                  |
//	+---------+---------+------+----------+------------------+
//
// crc is CRC-32C (Castagnoli) over bytes 4..12+len: the length, the kind, the reserved bytes and the
// payload. Integers are big-endian. kind is always kindFull (0xA1); reserved is zero. Because the
// checksum covers a non-zero kind byte, a run of zeros is never a valid record (the CRC-32C of an
// empty input is 0, which is why a checksum over the payload alone accepts a zero-filled tail).
// len is bounded by Options.MaxRecord.
//
// # Invariants
//
//  1. A record is durable when Append returns nil: its bytes and, for a new segment, the directory
//     entry have been fsynced. Appends are group-committed: one writer goroutine writes every queued
//     record and fsyncs once for the group.
//  2. Records are read back in append order, each exactly as appended, never one that was not
//     appended. A record whose Append returned an error never appears, in this process or after a
//     reopen, except in two cases: the caller's context ended first (the record may or may not
//     appear, as after a timeout), or the error is an *UncutError (ErrUncut, invariant 6): the
//     record may appear after a reopen, at exactly the position the error names.
//  3. Recovery (Open) reads every segment from the cursor on. The valid part of a segment ends at the
//     first record that is torn (shorter than its header says), has a bad checksum, a wrong kind,
//     non-zero reserved bytes or an impossible length. In the newest segment the invalid tail is
//     truncated (and fsynced) before any append; in an older segment it is skipped and reported
//     (segments are fsynced whole before the next one is created, so that is media corruption).
//  4. Reading never loops: every call either returns records, moves the read position past an
//     unreadable tail (reported through the logger and Stats.Corrupt), or returns nothing because
//     it is at the durable end.
//  5. The cursor only moves forward. Its file is sized for both slots when the log opens and is
//     then only overwritten in place, one slot at a time (the older one) and fsynced, so recording
//     progress never needs a new block: on a full disk the cursor still moves, and the segments
//     wholly before it are then deleted, which frees the space. A torn slot fails its CRC and the
//     other slot holds the previous cursor. A cursor file with no valid slot is reported and
//     reading starts at the oldest segment (records are then delivered again: at-least-once,
//     never lost).
//  6. A write or fsync error fails the whole group (no record of it is acknowledged). The segment
//     is cut back to its valid end and the cut fsynced before the group's appends are answered, so
//     that no failed record is read back after a reopen. The segment is retired if it holds
//     records not yet consumed: the next append opens a new one, since after a failed fsync the
//     page cache may no longer hold what was written. A segment that holds none is used again, so
//     a full disk does not leave one empty segment per failed append. When the cut-back (the
//     truncate or its fsync) fails too, the failed records may survive into a later Open: each
//     append is answered with an *UncutError naming the position its record would end at, and the
//     segment is retired whatever it holds. Positions are never reused: a retired segment is never
//     written again, and a reopened log appends to a new segment (never after an earlier process's
//     records), so such a position names that record and no other, for ever (Log.Holds says
//     whether it was read back). A segment that cannot be created is retried on the next append.
//  7. Close never blocks on queued appends: they fail with ErrClosed; at most the group being
//     written finishes first. Appends after Close fail with ErrClosed.
//  8. Every file of the log is opened through internal/private: never through a symlink, never one
//     owned by another user. A writable log's directory must be the current user's; a read-only
//     one's files must be owned by its directory's owner (root may inspect an application's log).
//     A file or directory another user planted (in a directory open to them) is refused with
//     private.ErrNotOurs and an error naming it: it would otherwise receive the records (member
//     data) or feed its own to the consumer.
package recordlog
