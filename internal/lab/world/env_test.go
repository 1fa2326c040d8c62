package world

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

var testEnv = map[string]string{
	"ISLANDS_US_CQL":              "127.0.5.1:9042",
	"ISLANDS_EU_CQL":              "127.0.7.1:9042",
	"ISLANDS_GLOBAL_US_CQL":       "127.0.5.1:9042",
	"ISLANDS_GLOBAL_EU_CQL":       "127.0.6.1:9042",
	"ISLANDS_GLOBAL_US_CQL_WAN":   "127.0.15.1:9042",
	"ISLANDS_GLOBAL_EU_CQL_WAN":   "127.0.16.1:9042",
	"ISLANDS_EU_ISLAND_CQL":       "127.0.7.1:9042",
	"ISLANDS_US_MEMCACHED":        "127.0.5.1:11211",
	"ISLANDS_EU_MEMCACHED":        "127.0.6.1:11211",
	"ISLANDS_SQS_ENDPOINT":        "http://127.0.5.1:9324",
	"ISLANDS_US_SQS_ENDPOINT":     "http://127.0.5.1:9324",
	"ISLANDS_EU_SQS_ENDPOINT":     "http://127.0.6.1:9324",
	"ISLANDS_US_SQS_ENDPOINT_WAN": "http://127.0.15.1:9324",
	"ISLANDS_EU_SQS_ENDPOINT_WAN": "http://127.0.16.1:9324",
	"ISLANDS_WAN":                 "http://127.0.10.1:8474",
}

func init() {
	for k, v := range thirdRegionVars {
		testEnv[k] = v
	}
}

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestFromEnvNamesEveryMissingVariable(t *testing.T) {
	// The earlier two-region world's variables only: every new name must be reported.
	old := map[string]string{"ISLANDS_US_CQL": "127.0.1.1:9042", "ISLANDS_EU_CQL": "127.0.2.1:9042",
		"ISLANDS_US_MEMCACHED": "127.0.1.1:11211", "ISLANDS_EU_MEMCACHED": "127.0.2.1:11211",
		"ISLANDS_SQS_ENDPOINT": "http://127.0.0.1:9324"}
	_, err := fromLookup(lookup(old))
	if !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("err = %v, want ErrNotConfigured", err)
	}
	for _, name := range []string{"ISLANDS_GLOBAL_EU_CQL", "ISLANDS_GLOBAL_US_CQL_WAN", "ISLANDS_EU_ISLAND_CQL",
		"ISLANDS_EU_SQS_ENDPOINT_WAN", "ISLANDS_WAN"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if strings.Contains(err.Error(), "ISLANDS_US_QUEUE") || strings.Contains(err.Error(), "ISLANDS_REGIONS") {
		t.Errorf("error %q names a variable that has a default", err)
	}
}

func TestRoutesStayHomeAndCrossTheWAN(t *testing.T) {
	e, err := fromLookup(lookup(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	if e.USQueue != "islands-us-east-1" || e.EUQueue != "islands-eu-west-1" {
		t.Errorf("queues default to %q, %q", e.USQueue, e.EUQueue)
	}
	cases := []struct{ got, want string }{
		{e.GlobalCQL(USEast1, USEast1), "127.0.5.1:9042"},
		{e.GlobalCQL(EUWest1, EUWest1), "127.0.6.1:9042"},
		{e.GlobalCQL(USEast1, EUWest1), "127.0.16.1:9042"},
		{e.GlobalCQL(EUWest1, USEast1), "127.0.15.1:9042"},
		{e.SQS(USEast1, USEast1), "http://127.0.5.1:9324"},
		{e.SQS(EUWest1, EUWest1), "http://127.0.6.1:9324"},
		{e.SQS(USEast1, EUWest1), "http://127.0.16.1:9324"},
		{e.SQS(EUWest1, USEast1), "http://127.0.15.1:9324"},
		{e.Memcached(EUWest1), "127.0.6.1:11211"},
		{e.Queue(EUWest1), "islands-eu-west-1"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: %s, want %s", i, c.got, c.want)
		}
	}
}

func TestTranslatorMapsOnlyTheOtherRegionsNode(t *testing.T) {
	e, _ := fromLookup(lookup(testEnv))
	tr := e.Translator(USEast1)
	for _, c := range []struct {
		ip       string
		port     int
		wantIP   string
		wantPort int
	}{
		{"127.0.6.1", 9042, "127.0.16.1", 9042}, // eu-west-1's node: through the WAN
		{"127.0.5.1", 9042, "127.0.5.1", 9042},  // own node: directly
		{"127.0.6.1", 9142, "127.0.6.1", 9142},  // another port: untouched
		{"127.0.7.1", 9042, "127.0.7.1", 9042},  // not in the global cluster: untouched
	} {
		ip, port := tr.Translate(net.ParseIP(c.ip), c.port)
		if ip.String() != c.wantIP || port != c.wantPort {
			t.Errorf("us-east-1 translates %s:%d to %s:%d, want %s:%d", c.ip, c.port, ip, port, c.wantIP, c.wantPort)
		}
	}
	ip, _ := e.Translator(EUWest1).Translate(net.ParseIP("127.0.5.1"), 9042)
	if ip.String() != "127.0.15.1" {
		t.Errorf("eu-west-1 translates us-east-1's node to %s, want 127.0.15.1", ip)
	}
}

func TestLinkString(t *testing.T) {
	l := Link{OneWay: 35 * time.Millisecond, Jitter: 5 * time.Millisecond}
	if got := l.String(); got != "rtt 70ms (35ms each way, jitter ±5ms), connected" {
		t.Errorf("got %q", got)
	}
	l.Partitioned = true
	if !strings.HasSuffix(l.String(), "partitioned") {
		t.Errorf("got %q", l.String())
	}
}
