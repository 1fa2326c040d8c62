package world

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeToxiproxy follows the parts of Toxiproxy's API the WAN uses: GET /proxies, POST
// /proxies/{name} {"enabled"}, POST /proxies/{name}/toxics (create; 409 if it exists), POST
// /proxies/{name}/toxics/{toxic} (update; 404 if missing), DELETE .../toxics/{toxic} (404 if missing).
type fakeToxiproxy struct {
	mu      sync.Mutex
	proxies map[string]*proxy
}

func newFakeToxiproxy(t *testing.T) *httptest.Server {
	raw, err := os.ReadFile("../../../scripts/services/toxiproxy.json")
	if err != nil {
		t.Fatal(err)
	}
	var ps []proxy
	if err := json.Unmarshal(raw, &ps); err != nil {
		t.Fatal(err)
	}
	f := &fakeToxiproxy{proxies: map[string]*proxy{}}
	for i := range ps {
		f.proxies[ps[i].Name] = &ps[i]
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv
}

func (f *fakeToxiproxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 1 && r.Method == http.MethodGet {
		json.NewEncoder(w).Encode(f.proxies)
		return
	}
	p, ok := f.proxies[parts[1]]
	if !ok {
		http.Error(w, "proxy not found", http.StatusNotFound)
		return
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodPost:
		var body map[string]bool
		json.NewDecoder(r.Body).Decode(&body)
		p.Enabled = body["enabled"]
	case len(parts) == 3 && r.Method == http.MethodPost:
		var tx toxic
		json.NewDecoder(r.Body).Decode(&tx)
		for _, have := range p.Toxics {
			if have.Name == tx.Name {
				http.Error(w, "toxic already exists", http.StatusConflict)
				return
			}
		}
		p.Toxics = append(p.Toxics, tx)
	case len(parts) == 4:
		i := -1
		for j, have := range p.Toxics {
			if have.Name == parts[3] {
				i = j
			}
		}
		if i < 0 {
			http.Error(w, "toxic not found", http.StatusNotFound)
			return
		}
		if r.Method == http.MethodDelete {
			p.Toxics = append(p.Toxics[:i], p.Toxics[i+1:]...)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var tx toxic
		json.NewDecoder(r.Body).Decode(&tx)
		p.Toxics[i].Attributes = tx.Attributes
	default:
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	w.Write([]byte("{}"))
}

// A random sequence of WAN operations against a fake Toxiproxy that keeps the real proxies: after
// every step the WAN reads back the model's state, every pair's toxics sum to its RTT, and every
// path is cut exactly when one of its regions is.
func TestWANFollowsTheModel(t *testing.T) {
	srv := newFakeToxiproxy(t)
	w := NewWAN(srv.URL)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 25))
	var model Link
	for step := 0; step < 300; step++ {
		var err error
		switch rng.IntN(6) {
		case 0:
			ow, jit := time.Duration(rng.IntN(80))*time.Millisecond, time.Duration(rng.IntN(6))*time.Millisecond
			err = w.Set(ctx, ow, jit)
			model.OneWay, model.Delays, model.Jitter = ow, Delays{}, min(jit, ow)
		case 1:
			var d Delays
			for i := range d {
				d[i] = time.Duration(1+rng.IntN(90)) * time.Millisecond
			}
			jit := time.Duration(rng.IntN(4)) * time.Millisecond
			err = w.SetDelays(ctx, d, jit)
			model.OneWay, model.Delays, model.Jitter = 0, d, jit
		case 2:
			err = w.Partition(ctx)
			model.Partitioned, model.Isolated = true, [regionCount]bool{}
		case 3:
			err = w.Heal(ctx)
			model.Partitioned, model.Isolated = false, [regionCount]bool{}
		case 4, 5:
			r := Regions[rng.IntN(len(Regions))]
			err = w.Isolate(ctx, r)
			model.Partitioned, model.Isolated = false, [regionCount]bool{}
			model = model.Isolate(r)
		}
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		model = model.normal()
		if model.Delays == (Delays{}) && model.OneWay == 0 {
			model.Jitter = 0 // no toxic, no jitter to read back
		}
		got, err := w.Link(ctx)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if got != model {
			t.Fatalf("step %d: the WAN reads %+v, the model is %+v", step, got, model)
		}
	}
}
