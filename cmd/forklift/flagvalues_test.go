package main

import (
	"errors"
	"strings"
	"testing"
)

// A value a numeric, duration, list or shard flag refuses is not shown (the flag package's
// "invalid value %q" and the parsers' own errors quote it): it may be a password typed into the
// wrong flag. Valid values still parse.
func TestInvalidFlagValuesNeverEchoed(t *testing.T) {
	const pw = "Hunter2-very-secret"
	for _, args := range [][]string{
		{"--workers=" + pw},
		{"--page-size", pw},
		{"--rate-limit=" + pw},
		{"--source-timeout=" + pw},
		{"--destination-connect-timeout", pw},
		{"--tables=" + pw},
		{"--tables", "ks.t," + pw},
		{"--shard-from-env=" + pw},
	} {
		var stderr strings.Builder
		c := newCommon("run", &stderr, true)
		_, err := c.parse(args)
		if err == nil || !errors.Is(err, errUsage) {
			t.Errorf("%q: want a usage error, got %v", strings.ReplaceAll(strings.Join(args, " "), pw, "PW"), err)
			continue
		}
		if strings.Contains(err.Error()+stderr.String(), "Hunter2") {
			t.Errorf("the value shows: %v\n%s", err, stderr.String())
		}
	}
	c := newCommon("run", &strings.Builder{}, true)
	if err := refuseUnsafeValues(c.fs, c.boolFlags, []string{"--workers=4", "--source-timeout", "3s", "--tables", "ks.a,ks.b=lww", "--source-tls=true"}); err != nil {
		t.Errorf("valid values: %v", err)
	}
}
