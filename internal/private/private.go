package private

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

const (
	// DirMode is the mode of every directory islands creates for member data.
	DirMode fs.FileMode = 0o700
	// FileMode is the mode of every file islands writes member data to.
	FileMode fs.FileMode = 0o600
)

// MkdirAll creates dir and any missing parents with DirMode. If dir already existed and lets
// the group or others in, it is left as it is and CheckDir warns (see the package doc).
func MkdirAll(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return err
	}
	CheckDir(dir, log)
	return nil
}

// ErrNotOurs is returned when the path to open is a symlink, or a file or directory that is not
// owned by the current user: another user who pre-created it (in a directory open to them) would
// otherwise receive the member data written into it.
var ErrNotOurs = errors.New("private: refusing a file not owned by this user (or a symlink)")

// OpenFile opens path with flag (O_CREATE is added) and FileMode. A file that was already there
// and lets the group or others in is replaced by a new private one (replace), never opened in
// place: a chmod does not take back a descriptor another user opened while it was open to them.
//
// Invariants: a symlink at path is never followed (O_NOFOLLOW); an existing file owned by another
// user is refused with ErrNotOurs before anything is truncated or written; O_TRUNC is applied only
// after that check; what the returned file receives goes to an inode nobody but this user has
// ever been able to open (created FileMode, or an existing one already FileMode-tight).
func OpenFile(path string, flag int) (*os.File, error) {
	return open(path, flag, true)
}

// OpenLock opens (creating if needed) a lock file for flock: as OpenFile, except that an existing
// file open to others is made FileMode in place, not replaced. A lock file holds no member data,
// and it is its inode that other processes lock: a new inode renamed over it would let two
// processes each hold "the" lock.
func OpenLock(path string) (*os.File, error) {
	return open(path, os.O_RDWR, false)
}

// open is OpenFile (replaceWide) or OpenLock. Replacements are serialised between processes by
// flock on the file being opened: a replacer holds LOCK_EX on the old inode from before its chmod
// until after its rename; every other opener takes LOCK_SH and, once it has it, checks that the
// path still names the inode it opened, else opens again. So no process keeps writing to an inode
// another one has just renamed a copy over (its writes would be lost from the path).
func open(path string, flag int, replaceWide bool) (*os.File, error) {
	for attempt := 0; attempt < 8; attempt++ {
		f, err := openOnce(path, flag, replaceWide)
		if !errors.Is(err, errReplaced) {
			return f, err
		}
	}
	return nil, fmt.Errorf("%s: replaced by other processes again and again while it was opened", path)
}

// errReplaced: the path no longer names the inode opened (another process replaced it): open again.
var errReplaced = errors.New("private: replaced meanwhile")

func openOnce(path string, flag int, replaceWide bool) (*os.File, error) {
	trunc := flag&os.O_TRUNC != 0
	f, err := os.OpenFile(path, (flag&^os.O_TRUNC)|os.O_CREATE|syscall.O_NOFOLLOW, FileMode)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s is a symlink: %w (remove it)", path, ErrNotOurs)
		}
		return nil, err
	}
	st, err := f.Stat()
	if err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
			f.Close()
			return nil, fmt.Errorf("%s is owned by uid %d, not %d: %w (remove it)", path, sys.Uid, os.Geteuid(), ErrNotOurs)
		}
	}
	wide := err == nil && st.Mode().Perm()&0o077 != 0
	if err == nil && replaceWide {
		how := syscall.LOCK_SH
		if wide {
			how = syscall.LOCK_EX
		}
		if err = flock(f, how); err == nil {
			var cur os.FileInfo
			if cur, err = os.Lstat(path); err == nil && !os.SameFile(cur, st) {
				f.Close()
				return nil, errReplaced
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if err == nil && st.Mode().Perm() != FileMode {
		// First of all, no new open by others (a replacement also needs to read it).
		err = f.Chmod(FileMode)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: making it mode %04o: %w (remove it, or run: chmod 600 %s)", path, FileMode, err, path)
	}
	if wide && replaceWide {
		nf, err := replace(path, f, flag, trunc)
		f.Close() // and with it the lock
		if err != nil {
			return nil, fmt.Errorf("%s was open to other users; replacing it with a private copy: %w (remove it)", path, err)
		}
		return nf, nil
	}
	if replaceWide {
		if err := flock(f, syscall.LOCK_UN); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if trunc {
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: truncating: %w", path, err)
		}
	}
	return f, nil
}

// flock applies how (LOCK_SH, LOCK_EX, LOCK_UN) to f, waiting, retried on EINTR.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			if err != nil {
				return fmt.Errorf("flock: %w", err)
			}
			return nil
		}
	}
}

// replace puts a new FileMode file in old's place at path and returns it opened with flag: the
// content of old (f, its descriptor) copied first unless trunc, fsynced, renamed over path, the
// directory fsynced. A reader who opened old while it was open to others keeps old's inode, which
// receives nothing more; a crash leaves either file at path, each with old's content (and at
// worst a ".<name>.private-*" file beside it, holding no more than old did).
func replace(path string, f *os.File, flag int, trunc bool) (*os.File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".private-*") // O_EXCL, 0600
	if err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(FileMode); err != nil { // whatever the umask took from 0600
		return nil, err
	}
	if !trunc {
		// Read old through a descriptor of its own (f may be write-only), checked to be f's inode.
		r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return nil, err
		}
		same, err := sameFile(r, f)
		if err == nil && !same {
			err = errors.New("the file changed while it was opened")
		}
		if err == nil {
			_, err = io.Copy(tmp, r)
		}
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("copying its content: %w", err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, err
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	// Opened again with the caller's flag (append, write-only, …), and checked to be the new file.
	nf, err := os.OpenFile(path, flag&^(os.O_TRUNC|os.O_CREATE|os.O_EXCL)|syscall.O_NOFOLLOW, 0)
	if err == nil {
		var same bool
		if same, err = sameFile(nf, tmp); err == nil && !same {
			err = errors.New("the file changed while it was replaced")
		}
		if err != nil {
			nf.Close()
		}
	}
	tmp.Close()
	if err != nil {
		return nil, err
	}
	return nf, nil
}

// sameFile reports whether a and b are descriptors of one inode.
func sameFile(a, b *os.File) (bool, error) {
	sa, err := a.Stat()
	if err != nil {
		return false, err
	}
	sb, err := b.Stat()
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// Create creates or truncates path for writing, mode FileMode.
func Create(path string) (*os.File, error) { return OpenFile(path, os.O_WRONLY|os.O_TRUNC) }

// OpenAppend opens path for appending, created if missing, mode FileMode.
func OpenAppend(path string) (*os.File, error) { return OpenFile(path, os.O_WRONLY|os.O_APPEND) }

// WriteFile writes data to path (created or truncated), mode FileMode.
func WriteFile(path string, data []byte) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// warned holds the directories CheckDir has warned about (absolute, cleaned paths).
var warned sync.Map

// CheckDir warns through log, once per directory per process, when dir lets the group or others
// in: a user's existing directory is not changed behind their back, they are told how to close it.
// A nil log is slog.Default(): unlike a library's other messages, this one is never quiet.
func CheckDir(dir string, log *slog.Logger) {
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return
	}
	key := dir
	if abs, err := filepath.Abs(dir); err == nil {
		key = abs
	}
	if _, dup := warned.LoadOrStore(key, true); dup {
		return
	}
	if log == nil {
		log = slog.Default()
	}
	log.Warn("directory holding member data is open to other users; islands does not change a directory it did not create",
		"dir", dir, "mode", fmt.Sprintf("%04o", st.Mode().Perm()), "want", fmt.Sprintf("%04o", DirMode), "fix", "chmod 700 "+shellQuote(dir))
}

// shellQuote quotes s for a shell when it holds anything but the usual path characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=@%:,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// OpenOwned opens an existing file (never creating it) for a mechanism that keeps member data in
// files it made earlier (recordlog's segments and cursor). Invariants: a symlink at path is never
// followed (O_NOFOLLOW), and a file not owned by uid is refused with ErrNotOurs before anything is
// read from or written to it. uid is the owner of the directory holding the file (see DirOwner),
// which is the current user's for any directory islands writes in.
func OpenOwned(path string, flag int, uid int) (*os.File, error) {
	f, err := os.OpenFile(path, (flag&^(os.O_CREATE|os.O_TRUNC))|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s is a symlink: %w (remove it)", path, ErrNotOurs)
		}
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != uid {
		f.Close()
		return nil, fmt.Errorf("%s is owned by uid %d, not %d: %w (another user may have planted it: remove it)", path, sys.Uid, uid, ErrNotOurs)
	}
	return f, nil
}

// DirOwner returns the uid owning dir. A directory owned by another user than the current one,
// or a symlink to one made by another user than the current one or root, is refused with
// ErrNotOurs when mine is true: a directory another
// user pre-created would let them read or plant what goes into it. With mine false (read-only
// inspection, e.g. root reading an application's log) any owner is accepted and returned, so the
// files in it can be held to the same owner.
func DirOwner(dir string, mine bool) (int, error) {
	for _, stat := range []func(string) (os.FileInfo, error){os.Lstat, os.Stat} {
		st, err := stat(dir)
		if err != nil {
			return 0, err
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return os.Geteuid(), nil
		}
		link := st.Mode()&os.ModeSymlink != 0
		if mine && int(sys.Uid) != os.Geteuid() && !(link && sys.Uid == 0) {
			return 0, fmt.Errorf("%s is owned by uid %d, not %d: %w (another user may have made it: remove it, or give the program a directory of its own)", dir, sys.Uid, os.Geteuid(), ErrNotOurs)
		}
		if st.IsDir() {
			return int(sys.Uid), nil
		}
	}
	return 0, fmt.Errorf("%s: not a directory", dir)
}
