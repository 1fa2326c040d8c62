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
type WAN struct {
	api    string
	client *http.Client
}

// Link is the WAN's state: each direction's delay and jitter, and whether it is cut.
type Link struct {
	OneWay, Jitter time.Duration
	Partitioned    bool
}

// RTT is the round-trip time the link adds.
func (l Link) RTT() time.Duration { return 2 * l.OneWay }

// String describes the link, e.g. "rtt 70ms (35ms each way, jitter ±5ms), connected".
func (l Link) String() string {
	s := fmt.Sprintf("rtt %v (%v each way, jitter ±%v)", l.RTT(), l.OneWay, l.Jitter)
	if l.Partitioned {
		return s + ", partitioned"
	}
	return s + ", connected"
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

// Set gives each direction of every cross-region path a delay of oneWay, varied uniformly by
// ±jitter (clipped to oneWay); oneWay 0 removes the delay. Open connections get it at once.
func (w *WAN) Set(ctx context.Context, oneWay, jitter time.Duration) error {
	if oneWay < 0 || jitter < 0 {
		return fmt.Errorf("%w: negative delay %v or jitter %v", ErrWAN, oneWay, jitter)
	}
	jitter = min(jitter, oneWay)
	ps, err := w.proxies(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		for _, stream := range toxicStreams {
			path := "/proxies/" + p.Name + "/toxics/" + toxicName(stream)
			if oneWay == 0 {
				if _, err := w.do(ctx, http.MethodDelete, path, nil, nil); err != nil {
					return err
				}
				continue
			}
			t := toxic{Name: toxicName(stream), Type: "latency", Stream: stream, Toxicity: 1,
				Attributes: map[string]int{"latency": int(oneWay.Milliseconds()), "jitter": int(jitter.Milliseconds())}}
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
func (w *WAN) Partition(ctx context.Context) error { return w.enable(ctx, false) }

// Heal restores every cross-region path, with the delay it had.
func (w *WAN) Heal(ctx context.Context) error { return w.enable(ctx, true) }

func (w *WAN) enable(ctx context.Context, on bool) error {
	ps, err := w.proxies(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		code, err := w.do(ctx, http.MethodPost, "/proxies/"+p.Name, map[string]bool{"enabled": on}, nil)
		if err != nil {
			return err
		}
		if code == http.StatusNotFound {
			return fmt.Errorf("%w: proxy %s vanished", ErrWAN, p.Name)
		}
	}
	return nil
}

// Link reads the WAN's state. The proxies must agree (they do unless someone drove Toxiproxy by
// hand); if they do not, Link returns an error naming the first that differs.
func (w *WAN) Link(ctx context.Context) (Link, error) {
	ps, err := w.proxies(ctx)
	if err != nil {
		return Link{}, err
	}
	var first Link
	for i, p := range ps {
		l := Link{Partitioned: !p.Enabled}
		for _, t := range p.Toxics {
			if t.Name == toxicName("upstream") {
				l.OneWay = time.Duration(t.Attributes["latency"]) * time.Millisecond
				l.Jitter = time.Duration(t.Attributes["jitter"]) * time.Millisecond
			}
		}
		if i == 0 {
			first = l
		} else if l != first {
			return first, fmt.Errorf("%w: proxy %s is %v, %s is %v", ErrWAN, p.Name, l, ps[0].Name, first)
		}
	}
	return first, nil
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
