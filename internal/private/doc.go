// Package private creates the files and directories in which islands keeps member data (replay
// logs, dead letters, the cache spill, quarantined partitions, reports, the demo's and the chaos
// campaign's output) so that only the user running islands can read them.
//
// Invariant: every file such data goes into is created 0600 and every directory 0700 — by these
// functions and nothing else. Creating with that mode is enough: the umask can only take bits
// away, never add them, so no umask makes them wider (a umask that takes the owner's own bits is
// the user's choice and fails loudly on the next open). A file that already exists and lets the
// group or others in is replaced when it is opened, never opened in place: a chmod does not take
// back a descriptor another user opened while the file was open to them, and they would read every
// record written after. OpenFile writes a new 0600 file beside it (a copy of its content first,
// unless it is to be truncated), fsyncs it, renames it over the old one and opens that; the old
// inode, which such a reader still holds, receives nothing more. Processes opening one file at
// once agree through flock on it (the replacer holds it exclusively until its rename, the others
// share it and open again when the path names another inode), so none writes into the inode
// renamed away. A lock file (OpenLock) is the one
// exception, made 0600 in place: it holds no member data, and its inode is the lock. A file that
// already exists narrower than 0600 is made 0600 in place. A directory that already exists is never changed:
// it may be the user's, shared on purpose; when it lets the group or others in, a warning names
// it, its mode and the chmod that closes it, once per directory per process.
//
// OpenFile never follows a symlink and refuses (ErrNotOurs) a file that another user owns, before
// truncating or writing it: in a directory others can write to, a file or symlink they pre-created
// would otherwise receive the member data. OpenOwned does the same for a file that must already
// exist (recordlog's segments and cursor), against the owner DirOwner returns for its directory
// (which must be the current user's when writing).
//
// Users: internal/recordlog (so dualwrite's replay log, dead letters and uncertain entries, and
// cachesync's spill), forklift's quarantine_file, cmd/forklift's --report, the demo's output and
// the chaos campaign's. Left 0644 on purpose: bench/results (published numbers, committed to the
// repository, no member data) and the benches' CPU profile. The tests of each of those packages
// check the modes of what they write with privatetest.CheckTree.
package private
