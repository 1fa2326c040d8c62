package world

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// WAN drives the Toxiproxy server every cross-region path of the world goes through.
//
// The paths (scripts/services/toxiproxy.json), by proxy name:
//   - "<to>-storage": the inbound proxy of region to's global node (its broadcast address), dialled by
//     every other node. Cassandra's messaging connections are one-way, a reply coming back over the
//     replier's own connection to the asker's proxy: a message and its reply between the nodes of
//     regions a and b cross a's proxy once and b's proxy once, so their RTT is delay(a) + delay(b).
//   - "<to>-cql-from-<from>", "<to>-sqs-from-<from>": one proxy per directed pair where the client
//     chooses the address (CQL through Env.Translator, SQS through Env.SQS); request and reply cross
//     the same proxy, which carries the pair's RTT, delay(from) + delay(to), split over the two
//     directions.
//
// So every pair's RTT is the sum of two per-region delays on every path alike.
type WAN struct {
	api    string
	client *http.Client
}

// Delays is each region's delay, indexed as Regions: the delay of its inbound storage proxy, and
// its half of every client path's RTT.
type Delays [regionCount]time.Duration

// SeedDelays are the seeds' distances: us-east-1 5 ms, eu-west-1 70 ms, us-west-2 60 ms, so
// us-east-1<->us-west-2 65 ms, us-east-1<->eu-west-1 75 ms and us-west-2<->eu-west-1 130 ms (three
// pairs, three delays: exact).
func SeedDelays() Delays {
	var d Delays
	d[USEast1.index()] = 5 * time.Millisecond
	d[EUWest1.index()] = 70 * time.Millisecond
	d[USWest2.index()] = 60 * time.Millisecond
	return d
}

// Of returns region r's delay.
func (d Delays) Of(r Region) time.Duration {
	if i := r.index(); i >= 0 {
		return d[i]
	}
	return 0
}

// RTT returns the round-trip time between regions a and b.
func (d Delays) RTT(a, b Region) time.Duration { return d.Of(a) + d.Of(b) }

// Link is the WAN's state: the delays, the jitter and what is cut. A uniform WAN (every region the
// same delay, the earlier two-region world's) has OneWay set and Delays zero; otherwise Delays holds
// each region's delay. A WAN with every path cut has Partitioned set and Isolated zero; otherwise
// Isolated marks the regions cut off from every other (indexed as Regions). Links compare with ==.
type Link struct {
	OneWay, Jitter time.Duration
	Partitioned    bool
	Delays         Delays
	Isolated       [regionCount]bool
}

// delay returns region r's effective delay.
func (l Link) delay(r Region) time.Duration {
	if l.Delays == (Delays{}) {
		return l.OneWay
	}
	return l.Delays.Of(r)
}

// RTT is the round-trip time the link adds between us-east-1 and eu-west-1 (for a uniform link,
// between any two regions).
func (l Link) RTT() time.Duration { return l.PairRTT(USEast1, EUWest1) }

// PairRTT is the round-trip time the link adds between regions a and b.
func (l Link) PairRTT(a, b Region) time.Duration { return l.delay(a) + l.delay(b) }

// Isolate returns l with region r cut off from every other region too.
func (l Link) Isolate(r Region) Link {
	if i := r.index(); i >= 0 && !l.Partitioned {
		l.Isolated[i] = true
	}
	return l.normal()
}

// IsolatedRegion reports whether region r is cut off from every other region.
func (l Link) IsolatedRegion(r Region) bool {
	i := r.index()
	return l.Partitioned || (i >= 0 && l.Isolated[i])
}

// normal gives l its one spelling: uniform delays as OneWay, every region isolated as Partitioned.
func (l Link) normal() Link {
	if l.Delays != (Delays{}) {
		same := true
		for _, d := range l.Delays {
			same = same && d == l.Delays[0]
		}
		if same {
			l.OneWay, l.Delays = l.Delays[0], Delays{}
		}
	}
	all := true
	for _, c := range l.Isolated {
		all = all && c
	}
	if all {
		l.Partitioned = true
	}
	if l.Partitioned {
		l.Isolated = [regionCount]bool{}
	}
	return l
}

// String describes the link, e.g. "rtt 70ms (35ms each way, jitter ±5ms), connected" or, per
// region, "rtt us-east-1<->eu-west-1 75ms, ... (jitter ±5ms), us-east-1 isolated".
func (l Link) String() string {
	var s string
	if l.Delays == (Delays{}) {
		s = fmt.Sprintf("rtt %v (%v each way, jitter ±%v)", l.RTT(), l.OneWay, l.Jitter)
	} else {
		var pairs []string
		for i, a := range Regions {
			for _, b := range Regions[i+1:] {
				pairs = append(pairs, fmt.Sprintf("%s<->%s %v", a, b, l.PairRTT(a, b)))
			}
		}
		s = fmt.Sprintf("rtt %s (jitter ±%v)", strings.Join(pairs, ", "), l.Jitter)
	}
	if l.Partitioned {
		return s + ", partitioned"
	}
	var cut []string
	for i, c := range l.Isolated {
		if c {
			cut = append(cut, string(Regions[i]))
		}
	}
	if len(cut) > 0 {
		return s + ", " + strings.Join(cut, " and ") + " isolated"
	}
	return s + ", connected"
}

// path is one proxy's place in the world: what it reaches (to), of which kind, from which region
// (none for a storage proxy, which every other node dials).
type path struct {
	kind     string
	to, from Region
}

// parsePath reads a proxy's name: "<to>-storage" or "<to>-<cql|sqs>-from-<from>".
func parsePath(name string) (path, error) {
	for _, r := range Regions {
		rest, ok := strings.CutPrefix(name, string(r)+"-")
		if !ok {
			continue
		}
		if rest == "storage" {
			return path{kind: "storage", to: r}, nil
		}
		kind, from, ok := strings.Cut(rest, "-from-")
		if ok && (kind == "cql" || kind == "sqs") && Known(Region(from)) && Region(from) != r {
			return path{kind: kind, to: r, from: Region(from)}, nil
		}
	}
	return path{}, fmt.Errorf("%w: proxy %q: not <region>-storage or <region>-<cql|sqs>-from-<region>", ErrWAN, name)
}

// delays returns the delay of a path's two directions (upstream: towards to).
func (l Link) delays(p path) (up, down time.Duration) {
	if p.kind == "storage" {
		return l.delay(p.to), l.delay(p.to)
	}
	rtt := l.PairRTT(p.from, p.to)
	up = (rtt / 2).Truncate(time.Millisecond)
	return up, rtt - up
}

// cut reports whether the path is cut in l.
func (l Link) cut(p path) bool {
	return l.IsolatedRegion(p.to) || (p.from != "" && l.IsolatedRegion(p.from))
}

// ErrWAN is wrapped by every error of the Toxiproxy API.
var ErrWAN = errors.New("world: wan")

// The latency toxics each proxy carries, one per direction.
var toxicStreams = []string{"upstream", "downstream"}

func toxicName(stream string) string { return "wan-latency-" + stream }

// NewWAN returns a client of the Toxiproxy API at api (e.g. http://127.0.10.1:8474).
func NewWAN(api string) *WAN {
	return &WAN{api: strings.TrimSuffix(api, "/"), client: &http.Client{Timeout: 10 * time.Second}}
}

type proxy struct {
	Name     string  `json:"name"`
	Listen   string  `json:"listen"`
	Upstream string  `json:"upstream"`
	Enabled  bool    `json:"enabled"`
	Toxics   []toxic `json:"toxics"`
}

type toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float64        `json:"toxicity"`
	Attributes map[string]int `json:"attributes"`
}

func (w *WAN) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("%w: encoding %s %s: %w", ErrWAN, method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, w.api+path, rd)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %s: %w", ErrWAN, method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %s: %w", ErrWAN, method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return resp.StatusCode, nil
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%w: %s %s: %s: %s", ErrWAN, method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%w: decoding %s %s: %w", ErrWAN, method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// proxies lists the WAN's proxies, sorted by name.
func (w *WAN) proxies(ctx context.Context) ([]proxy, error) {
	var m map[string]proxy
	if _, err := w.do(ctx, http.MethodGet, "/proxies", nil, &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%w: no proxies at %s", ErrWAN, w.api)
	}
	ps := make([]proxy, 0, len(m))
	for _, p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	return ps, nil
}

// Set gives every region the delay oneWay (so every pair an RTT of 2*oneWay, the earlier uniform
// WAN), each toxic varied uniformly by ±jitter (clipped to its delay); oneWay 0 removes the delay.
// Open connections get it at once; what is cut stays cut.
func (w *WAN) Set(ctx context.Context, oneWay, jitter time.Duration) error {
	return w.setToxics(ctx, Link{OneWay: oneWay, Jitter: jitter})
}

// SetDelays gives each region its delay (a pair's RTT is the sum of its two regions'), each toxic
// varied by ±jitter; what is cut stays cut.
func (w *WAN) SetDelays(ctx context.Context, d Delays, jitter time.Duration) error {
	return w.setToxics(ctx, Link{Delays: d, Jitter: jitter})
}

// Apply gives the WAN the state l (as Link read it): delays and what is cut.
func (w *WAN) Apply(ctx context.Context, l Link) error {
	if err := w.setToxics(ctx, l); err != nil {
		return err
	}
	return w.setCut(ctx, l)
}

func (w *WAN) setToxics(ctx context.Context, l Link) error {
	if l.OneWay < 0 || l.Jitter < 0 {
		return fmt.Errorf("%w: negative delay %v or jitter %v", ErrWAN, l.OneWay, l.Jitter)
	}
	for _, d := range l.Delays {
		if d < 0 {
			return fmt.Errorf("%w: negative delay %v", ErrWAN, d)
		}
	}
	ps, err := w.proxies(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		pp, err := parsePath(p.Name)
		if err != nil {
			return err
		}
		up, down := l.delays(pp)
		for _, stream := range toxicStreams {
			d := up
			if stream == "downstream" {
				d = down
			}
			path := "/proxies/" + p.Name + "/toxics/" + toxicName(stream)
			if d == 0 {
				if _, err := w.do(ctx, http.MethodDelete, path, nil, nil); err != nil {
					return err
				}
				continue
			}
			t := toxic{Name: toxicName(stream), Type: "latency", Stream: stream, Toxicity: 1,
				Attributes: map[string]int{"latency": int(d.Milliseconds()), "jitter": int(min(l.Jitter, d).Milliseconds())}}
			code, err := w.do(ctx, http.MethodPost, path, t, nil)
			if err != nil {
				return err
			}
			if code == http.StatusNotFound {
				if _, err := w.do(ctx, http.MethodPost, "/proxies/"+p.Name+"/toxics", t, nil); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Partition cuts every cross-region path: open connections are closed and new ones refused.
func (w *WAN) Partition(ctx context.Context) error { return w.setCut(ctx, Link{Partitioned: true}) }

// Heal restores every cross-region path, with the delay it had.
func (w *WAN) Heal(ctx context.Context) error { return w.setCut(ctx, Link{}) }

// Isolate cuts exactly the given regions off from every other (every path reaching or leaving
// one of them) and restores every other path; no region heals the WAN.
//
// What a cut does not do: a storage proxy is the one inbound path of its node for every peer, so
// the isolated node's own messages to the others still reach their proxies until its failure
// detector marks them down (it hears nothing back: seconds); the others' messages to it are refused.
func (w *WAN) Isolate(ctx context.Context, regions ...Region) error {
	var l Link
	for _, r := range regions {
		if !Known(r) {
			return fmt.Errorf("%w: %q is not a region of the world %v", ErrWAN, r, Regions)
		}
		l = l.Isolate(r)
	}
	return w.setCut(ctx, l)
}

func (w *WAN) setCut(ctx context.Context, l Link) error {
	ps, err := w.proxies(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		pp, err := parsePath(p.Name)
		if err != nil {
			return err
		}
		code, err := w.do(ctx, http.MethodPost, "/proxies/"+p.Name, map[string]bool{"enabled": !l.cut(pp)}, nil)
		if err != nil {
			return err
		}
		if code == http.StatusNotFound {
			return fmt.Errorf("%w: proxy %s vanished", ErrWAN, p.Name)
		}
	}
	return nil
}

// Link reads the WAN's state from its storage proxies (each region's delay and jitter, whether its
// inbound path is cut) and checks every other proxy against it; a proxy that differs (someone drove
// Toxiproxy by hand) is an error naming it.
func (w *WAN) Link(ctx context.Context) (Link, error) {
	ps, err := w.proxies(ctx)
	if err != nil {
		return Link{}, err
	}
	var l Link
	paths := make([]path, len(ps))
	for i, p := range ps {
		if paths[i], err = parsePath(p.Name); err != nil {
			return Link{}, err
		}
		if paths[i].kind != "storage" {
			continue
		}
		up, jit := toxicOf(p, "upstream")
		l.Delays[paths[i].to.index()] = up
		l.Jitter = max(l.Jitter, jit)
		l.Isolated[paths[i].to.index()] = !p.Enabled
	}
	l = l.normal()
	for i, p := range ps {
		up, _ := toxicOf(p, "upstream")
		down, _ := toxicOf(p, "downstream")
		wantUp, wantDown := l.delays(paths[i])
		if up != wantUp || down != wantDown || p.Enabled == l.cut(paths[i]) {
			return l, fmt.Errorf("%w: proxy %s (delay %v/%v, enabled %v) does not follow the WAN %v", ErrWAN, p.Name, up, down, p.Enabled, l)
		}
	}
	return l, nil
}

// toxicOf returns the delay and jitter of p's latency toxic on stream (0 without one).
func toxicOf(p proxy, stream string) (delay, jitter time.Duration) {
	for _, t := range p.Toxics {
		if t.Name == toxicName(stream) {
			return time.Duration(t.Attributes["latency"]) * time.Millisecond, time.Duration(t.Attributes["jitter"]) * time.Millisecond
		}
	}
	return 0, 0
}

// Proxies describes every cross-region path, one line each: name, listen address, upstream.
func (w *WAN) Proxies(ctx context.Context) ([]string, error) {
	ps, err := w.proxies(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprintf("%-18s %s -> %s", p.Name, p.Listen, p.Upstream)
	}
	return out, nil
}
