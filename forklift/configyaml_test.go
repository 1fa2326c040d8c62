package forklift

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/globalcloud/islands/cqlconn"
)

// fill sets every settable field of v (a struct, recursively) to a value that is not zero and
// that YAML carries through, except the ones named in skip.
func fill(t *testing.T, v reflect.Value, skip map[string]bool) {
	for i := 0; i < v.NumField(); i++ {
		f, sf := v.Field(i), v.Type().Field(i)
		if skip[sf.Name] {
			continue
		}
		switch {
		case f.Type() == reflect.TypeOf(time.Duration(0)):
			f.SetInt(int64(time.Duration(i+1) * time.Second))
		case f.Kind() == reflect.String:
			f.SetString(fmt.Sprintf("v%d: '%s' #x", i, sf.Name)) // a value YAML must quote
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.Int:
			f.SetInt(int64(i + 1))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			f.Set(reflect.ValueOf([]string{"127.0.5.1", "[::1]:9042"}))
		case f.Kind() == reflect.Struct:
			fill(t, f, skip)
		default:
			t.Fatalf("fill: field %s of kind %s: teach the test", sf.Name, f.Kind())
		}
	}
}

// Every key of a cluster, set, comes back the same from the file forklift reads; nothing else is
// rendered, on one line.
func TestClusterConfigYAML(t *testing.T) {
	var c ClusterConfig
	fill(t, reflect.ValueOf(&c).Elem(), map[string]bool{"Password": true})
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(y, "\n") || !strings.HasPrefix(y, "{") {
		t.Fatalf("not a one-line flow mapping: %s", y)
	}
	cfg, err := ParseConfig([]byte("source: " + y + "\ndestination:\n  hosts: [x]\n"))
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	t.Log(y)
	if !reflect.DeepEqual(cfg.Source, c) {
		t.Fatalf("rendered %s\nparsed back %+v\nwant        %+v", y, cfg.Source, c)
	}
}

// The keys left unset are left out (they take their defaults); an empty cluster is {}.
func TestClusterConfigYAMLLeavesOutUnset(t *testing.T) {
	for _, tc := range []struct {
		c    ClusterConfig
		want string
	}{
		{ClusterConfig{}, "{}"},
		{ClusterConfig{Hosts: []string{"127.0.5.1"}, DisableHostLookup: true}, "{hosts: [127.0.5.1], disable_host_lookup: true}"},
		{ClusterConfig{Hosts: []string{"h"}, Access: cqlconn.Access{Username: "forklift", PasswordFile: "/p", TLS: cqlconn.TLS{Enabled: true, CAFile: "/ca.pem"}}},
			"{hosts: [h], username: forklift, password_file: /p, tls: {enabled: true, ca_file: /ca.pem}}"},
		{ClusterConfig{Access: cqlconn.Access{Username: "u", PasswordEnv: "PW"}, ConnectTimeout: 5 * time.Second},
			"{username: u, password_env: PW, connect_timeout: 5s}"},
	} {
		if got, err := tc.c.YAML(); err != nil || got != tc.want {
			t.Errorf("YAML() = %q, %v; want %q", got, err, tc.want)
		}
	}
}

// A literal password is never rendered: YAML refuses it, and its error does not hold it.
func TestClusterConfigYAMLRefusesAPassword(t *testing.T) {
	c := ClusterConfig{Hosts: []string{"h"}, Access: cqlconn.Access{Username: "u", Password: cqlconn.NewSecret("hunter2-secret")}}
	y, err := c.YAML()
	if !errors.Is(err, ErrConfig) || y != "" {
		t.Fatalf("want ErrConfig and nothing rendered, got %d bytes (not shown: they may hold the password) and %v", len(y), err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("the error shows the password: %v", err)
	}
}
