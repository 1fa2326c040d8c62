package cachesync

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// Every contention error cachesync builds (store, voidAt, the agent's touch) names the key by
// key_hash only, and is still errContention for the callers that branch on it.
func TestSec5ContentionErrorsNameTheKeyByHash(t *testing.T) {
	const key = "member:bob@example.com"
	now := time.Now
	mc := casAlwaysConflicts{newFakeMemcache(now)}
	old := Stored{Version: Version{Micros: now().Add(-time.Minute).UnixMicro(), Origin: "eu-west-1"}, Kind: KindValue, Value: []byte("old")}
	if err := mc.Add(&memcache.Item{Key: key, Value: old.Encode(), Flags: FlagVersioned}); err != nil {
		t.Fatal(err)
	}
	tm := times{judge: now(), wall: now()}
	v := Version{Micros: now().UnixMicro(), Origin: "us-west-2"}
	_, serr := store(mc, key, Stored{Version: v, Value: []byte("new")}, 0, 10, tm)
	verr := voidAt(mc, key, v, 10, tm)
	a := &Agent{mc: mc, logger: slog.New(slog.DiscardHandler)}
	old.Version = v // the touched version is held: the touch compares and swaps, and loses
	it, _ := mc.Get(key)
	it.Value = old.Encode()
	mc.fakeMemcache.Set(it)
	_, terr := a.touch(&Event{Op: OpTouch, Key: key, Version: v, Expiry: now().Add(time.Hour).Unix()}, tm, 10)
	for name, err := range map[string]error{"store": serr, "voidAt": verr, "touch": terr} {
		if !errors.Is(err, errContention) {
			t.Errorf("%s: %v, want errContention", name, err)
			continue
		}
		if strings.Contains(err.Error(), "bob@example.com") || !strings.Contains(err.Error(), "key_hash "+keyHash(key)) {
			t.Errorf("%s: %v: want the key named by key_hash only", name, err)
		}
	}
}

// logKey keeps the key out of lines above debug even when an error logged beside it quotes it
// (as it is, with %q, in hex), and logs it at debug with the same key_hash.
func TestSec5LogKeyTakesTheKeyOutOfErrors(t *testing.T) {
	for _, key := range []string{"member:carol@example.com", "member:\xffcarol@example.com"} {
		var buf bytes.Buffer
		l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		for _, err := range []error{
			fmt.Errorf("from below: %s", key),
			fmt.Errorf("quoted: %q: %w", key, memcache.ErrServerError),
			fmt.Errorf("in hex: %x and %X", key, key),
		} {
			buf.Reset()
			logKey(l, slog.LevelWarn, "cachesync: test", key, "op", "set", "err", err)
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 2 {
				t.Fatalf("%d lines: %q", len(lines), buf.String())
			}
			warn := lines[0]
			for _, form := range []string{"carol@example.com", hex.EncodeToString([]byte("carol@example.com")), strings.ToUpper(hex.EncodeToString([]byte("carol@example.com")))} {
				if strings.Contains(warn, form) {
					t.Errorf("warn line holds the key (%s): %s", form, warn)
				}
			}
			if !strings.Contains(warn, "key_hash "+keyHash(key)) || !strings.Contains(warn, "op=set") {
				t.Errorf("warn line lost the error's shape: %s", warn)
			}
			if !strings.Contains(lines[1], "level=DEBUG") || !strings.Contains(lines[1], "carol@example.com") {
				t.Errorf("debug line: %s", lines[1])
			}
		}
	}
}
