package dualwrite

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A shadow-read mismatch is logged at warn level without the statement's values (member data: an
// email as a key): a hash of them correlates the lines; the values go to debug only.
func TestShadowMismatchLogHidesValues(t *testing.T) {
	var warn, debug bytes.Buffer
	values := []any{"alice@example.com", 42}
	logShadowMismatch(slog.New(slog.NewTextHandler(&warn, &slog.HandlerOptions{Level: slog.LevelWarn})), "SELECT * FROM t WHERE email = ?", values, 1, 0)
	if strings.Contains(warn.String(), "alice") || !strings.Contains(warn.String(), "key_hash=") {
		t.Errorf("warn level: %s", warn.String())
	}
	logShadowMismatch(slog.New(slog.NewTextHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug})), "SELECT * FROM t WHERE email = ?", values, 1, 0)
	if !strings.Contains(debug.String(), "alice") {
		t.Errorf("debug level keeps the values for whoever asks for them: %s", debug.String())
	}
}
