package cachesync

import (
	"context"
	"log/slog"

	"github.com/globalcloud/islands/internal/loghash"
)

// A cache key is member data (an application caches "member:<email>"). Invariant: at info, warn
// and error cachesync logs a key only as key_hash (keyHash: the same key gives the same hash, so
// lines correlate, and the key cannot be read back); the key itself is logged at debug level only.

// keyHash is the hash logged for a cache key (key_hash): loghash's keyed hash (HMAC-SHA-256 under
// the process's key, see internal/loghash) of the key's bytes, as dualwrite's key_hash is of a
// statement's values.
func keyHash(key string) string {
	return loghash.String(key)
}

// logKey logs msg at level with key_hash and args, and the key itself in a debug line carrying
// the same key_hash.
func logKey(l *slog.Logger, level slog.Level, msg, key string, args ...any) {
	h := keyHash(key)
	l.Log(context.Background(), level, msg, append([]any{"key_hash", h}, args...)...)
	l.Debug(msg+" (the key)", "key_hash", h, "key", key)
}
