package cachesync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
)

// A cache key is member data (an application caches "member:<email>"). Invariant: at info, warn
// and error cachesync logs a key only as key_hash (keyHash: the same key gives the same hash, so
// lines correlate, and the key cannot be read back); the key itself is logged at debug level only.

// keyHash is the hash logged for a cache key (key_hash): 16 hex digits of SHA-256 over the key's
// bytes, as dualwrite's key_hash is of a statement's values.
func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// logKey logs msg at level with key_hash and args, and the key itself in a debug line carrying
// the same key_hash.
func logKey(l *slog.Logger, level slog.Level, msg, key string, args ...any) {
	h := keyHash(key)
	l.Log(context.Background(), level, msg, append([]any{"key_hash", h}, args...)...)
	l.Debug(msg+" (the key)", "key_hash", h, "key", key)
}
