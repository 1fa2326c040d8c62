package world

import (
	"net"
	"testing"
	"time"
)

// thirdRegionVars are the variables the third region added to the contract (in testEnv too).
var thirdRegionVars = map[string]string{
	"ISLANDS_GLOBAL_USW_CQL":               "127.0.8.1:9042",
	"ISLANDS_GLOBAL_USW_CQL_WAN_FROM_US":   "127.0.18.5:9042",
	"ISLANDS_GLOBAL_USW_CQL_WAN_FROM_EU":   "127.0.18.6:9042",
	"ISLANDS_GLOBAL_US_CQL_WAN_FROM_USW":   "127.0.15.8:9042",
	"ISLANDS_GLOBAL_EU_CQL_WAN_FROM_USW":   "127.0.16.8:9042",
	"ISLANDS_USW_MEMCACHED":                "127.0.8.1:11211",
	"ISLANDS_USW_SQS_ENDPOINT":             "http://127.0.8.1:9324",
	"ISLANDS_USW_SQS_ENDPOINT_WAN_FROM_US": "http://127.0.18.5:9324",
	"ISLANDS_USW_SQS_ENDPOINT_WAN_FROM_EU": "http://127.0.18.6:9324",
	"ISLANDS_US_SQS_ENDPOINT_WAN_FROM_USW": "http://127.0.15.8:9324",
	"ISLANDS_EU_SQS_ENDPOINT_WAN_FROM_USW": "http://127.0.16.8:9324",
}

func threeEnv() map[string]string { return testEnv }

func TestThreeRegions(t *testing.T) {
	if len(Regions) != 3 || !Known(USWest2) || USWest2.DC() != "us-west-2" {
		t.Fatalf("regions %v", Regions)
	}
	if o := USWest2.Others(); len(o) != 2 || o[0] != USEast1 || o[1] != EUWest1 {
		t.Errorf("us-west-2's others: %v", o)
	}
	if len(Regions) != regionCount {
		t.Fatalf("regionCount %d, %d regions", regionCount, len(Regions))
	}
}

func TestFromEnvNamesTheThirdRegionsVariables(t *testing.T) {
	two := map[string]string{}
	for k, v := range testEnv {
		if _, ok := thirdRegionVars[k]; !ok {
			two[k] = v
		}
	}
	_, err := fromLookup(lookup(two))
	if err == nil {
		t.Fatal("a two-region environment is accepted")
	}
	for _, name := range []string{"ISLANDS_GLOBAL_USW_CQL", "ISLANDS_USW_MEMCACHED", "ISLANDS_USW_SQS_ENDPOINT",
		"ISLANDS_GLOBAL_EU_CQL_WAN_FROM_USW", "ISLANDS_USW_SQS_ENDPOINT_WAN_FROM_US"} {
		if !containsStr(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func containsStr(s, sub string) bool {
	return len(sub) > 0 && len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// Every ordered pair of regions has its own route: within a region directly, across through the
// WAN address of that directed pair; every address is distinct across routes.
func TestEveryDirectedPairHasItsOwnRoute(t *testing.T) {
	e, err := fromLookup(lookup(threeEnv()))
	if err != nil {
		t.Fatal(err)
	}
	seenCQL, seenSQS := map[string]string{}, map[string]string{}
	for _, from := range Regions {
		for _, to := range Regions {
			c, s := e.GlobalCQL(from, to), e.SQS(from, to)
			if c == "" || s == "" {
				t.Fatalf("%s->%s: no route (cql %q, sqs %q)", from, to, c, s)
			}
			if prev, ok := seenCQL[c]; ok {
				t.Errorf("%s->%s: CQL %s already the route %s", from, to, c, prev)
			}
			if prev, ok := seenSQS[s]; ok {
				t.Errorf("%s->%s: SQS %s already the route %s", from, to, s, prev)
			}
			seenCQL[c], seenSQS[s] = string(from)+"->"+string(to), string(from)+"->"+string(to)
		}
	}
	if got := e.GlobalCQL(USWest2, EUWest1); got != "127.0.16.8:9042" {
		t.Errorf("us-west-2 -> eu-west-1 CQL %s", got)
	}
	if got := e.SQS(EUWest1, USWest2); got != "http://127.0.18.6:9324" {
		t.Errorf("eu-west-1 -> us-west-2 SQS %s", got)
	}
	if e.Memcached(USWest2) != "127.0.8.1:11211" || e.Queue(USWest2) != "islands-us-west-2" {
		t.Errorf("us-west-2 memcached %s queue %s", e.Memcached(USWest2), e.Queue(USWest2))
	}
	// The earlier names keep their meaning.
	if e.GlobalCQL(USEast1, EUWest1) != "127.0.16.1:9042" || e.SQS(EUWest1, USEast1) != "http://127.0.15.1:9324" {
		t.Errorf("the two-region routes moved")
	}
}

func TestTranslatorMapsEveryOtherRegionsNode(t *testing.T) {
	e, _ := fromLookup(lookup(threeEnv()))
	for _, c := range []struct {
		from       Region
		ip, wantIP string
	}{
		{USEast1, "127.0.8.1", "127.0.18.5"},
		{EUWest1, "127.0.8.1", "127.0.18.6"},
		{USWest2, "127.0.5.1", "127.0.15.8"},
		{USWest2, "127.0.6.1", "127.0.16.8"},
		{USWest2, "127.0.8.1", "127.0.8.1"},
	} {
		ip, _ := e.Translator(c.from).Translate(net.ParseIP(c.ip), 9042)
		if ip.String() != c.wantIP {
			t.Errorf("%s translates %s to %s, want %s", c.from, c.ip, ip, c.wantIP)
		}
	}
}

// The seeds' distances: a pair's RTT is the sum of the two nodes' inbound delays.
func TestSeedDistances(t *testing.T) {
	d := SeedDelays()
	for _, c := range []struct {
		a, b Region
		rtt  time.Duration
	}{
		{USEast1, USWest2, 65 * time.Millisecond},
		{USEast1, EUWest1, 75 * time.Millisecond},
		{USWest2, EUWest1, 130 * time.Millisecond},
	} {
		if got := d.RTT(c.a, c.b); got != c.rtt {
			t.Errorf("%s<->%s: %v, want %v", c.a, c.b, got, c.rtt)
		}
	}
}

func TestPathsOfProxies(t *testing.T) {
	for name, want := range map[string]path{
		"us-west-2-storage":            {kind: "storage", to: USWest2},
		"eu-west-1-cql-from-us-west-2": {kind: "cql", to: EUWest1, from: USWest2},
		"us-east-1-sqs-from-eu-west-1": {kind: "sqs", to: USEast1, from: EUWest1},
	} {
		got, err := parsePath(name)
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", name, got, err, want)
		}
	}
	if _, err := parsePath("mars-1-cql"); err == nil {
		t.Error("an unknown region is accepted")
	}
}

// The toxics of each path: storage proxies carry their node's delay each way (a message between two
// nodes crosses one of them, the reply the other: RTT = sum), client proxies the pair's RTT split
// over the two directions.
func TestToxicsGiveEachPairItsRTT(t *testing.T) {
	l := Link{Delays: SeedDelays(), Jitter: 5 * time.Millisecond}
	for _, c := range []struct {
		p        path
		up, down time.Duration
	}{
		{path{kind: "storage", to: USEast1}, 5 * time.Millisecond, 5 * time.Millisecond},
		{path{kind: "storage", to: EUWest1}, 70 * time.Millisecond, 70 * time.Millisecond},
		{path{kind: "cql", to: USWest2, from: USEast1}, 32 * time.Millisecond, 33 * time.Millisecond},
		{path{kind: "sqs", to: EUWest1, from: USWest2}, 65 * time.Millisecond, 65 * time.Millisecond},
	} {
		up, down := l.delays(c.p)
		if up != c.up || down != c.down {
			t.Errorf("%+v: %v/%v, want %v/%v", c.p, up, down, c.up, c.down)
		}
	}
	// A uniform link is the earlier WAN: every path oneWay each way.
	u := Link{OneWay: 35 * time.Millisecond}
	if up, down := u.delays(path{kind: "cql", to: USWest2, from: EUWest1}); up != 35*time.Millisecond || down != up {
		t.Errorf("uniform: %v/%v", up, down)
	}
}

// Isolating a region cuts every path that reaches it or leaves it and no other.
func TestIsolateCutsOnlyThatRegionsPaths(t *testing.T) {
	l := Link{}.Isolate(USEast1)
	for _, c := range []struct {
		p   path
		cut bool
	}{
		{path{kind: "storage", to: USEast1}, true},
		{path{kind: "storage", to: EUWest1}, false},
		{path{kind: "cql", to: EUWest1, from: USEast1}, true},
		{path{kind: "sqs", to: USEast1, from: USWest2}, true},
		{path{kind: "cql", to: USWest2, from: EUWest1}, false},
	} {
		if got := l.cut(c.p); got != c.cut {
			t.Errorf("%+v cut %v, want %v", c.p, got, c.cut)
		}
	}
	all := Link{Partitioned: true}
	if !all.cut(path{kind: "cql", to: USWest2, from: EUWest1}) {
		t.Error("a partition leaves a path")
	}
	if l.Partitioned || !l.IsolatedRegion(USEast1) || l.IsolatedRegion(EUWest1) {
		t.Errorf("%+v", l)
	}
}
