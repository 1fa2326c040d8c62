package cachesync

import (
	"context"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"

	"github.com/globalcloud/islands/internal/loghash"
)

// A cache key is member data (an application caches "member:<email>"). Invariant: at info, warn
// and error cachesync logs a key only as key_hash (keyHash: the same key gives the same hash, so
// lines correlate, and the key cannot be read back); the key itself is logged at debug level only.
// cachesync's own errors that the agent or the client log name a key by key_hash (contention);
// logKey also takes the key out of any error or string logged beside it (an error from below
// that quotes it: a server's reply line, a wrapped caller-facing error), so one error built the
// wrong way does not put the key in a warn line.

// keyHash is the hash logged for a cache key (key_hash): loghash's keyed hash (HMAC-SHA-256 under
// the process's key, see internal/loghash) of the key's bytes, as dualwrite's key_hash is of a
// statement's values.
func keyHash(key string) string {
	return loghash.String(key)
}

// logKey logs msg at level with key_hash and args, and the key itself in a debug line carrying
// the same key_hash. Above debug, an error among args whose text holds the key (as it is, in its
// %q form, or in hex) is logged as that text with each occurrence replaced by "key_hash <hash>".
func logKey(l *slog.Logger, level slog.Level, msg, key string, args ...any) {
	h := keyHash(key)
	if level > slog.LevelDebug {
		args = withoutKey(args, key, h)
	}
	l.Log(context.Background(), level, msg, append([]any{"key_hash", h}, args...)...)
	l.Debug(msg+" (the key)", "key_hash", h, "key", key)
}

// withoutKey returns args with every error whose text holds key (as it is, in its %q form, or
// in hex) replaced by that text with key written as "key_hash h"; args itself is not modified.
// Only errors are rewritten: the other values are cachesync's own (an op, a size, an origin),
// and a string may be an attribute's name.
func withoutKey(args []any, key, h string) []any {
	if key == "" {
		return args
	}
	x := hex.EncodeToString([]byte(key))
	forms := []string{key, x, strings.ToUpper(x)}
	if q := strconv.Quote(key); q[1:len(q)-1] != key {
		forms = append(forms, q[1:len(q)-1]) // a key with bytes %q escapes
	}
	var out []any
	for i, a := range args {
		err, ok := a.(error)
		if !ok || err == nil {
			continue
		}
		text, changed := err.Error(), false
		for _, f := range forms {
			if strings.Contains(text, f) {
				text, changed = strings.ReplaceAll(text, f, "key_hash "+h), true
			}
		}
		if changed {
			if out == nil {
				out = append([]any(nil), args...)
			}
			out[i] = text
		}
	}
	if out == nil {
		return args
	}
	return out
}
