package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/globalcloud/islands/internal/private"
)

// Event types of the history, after Jepsen's: an operation is an invoke followed by one of ok
// (it happened), fail (it did not happen) or info (unknown: it may have happened). An invoke with
// no completion (its process was killed) is unknown too.
const (
	Invoke       = "invoke"
	OK           = "ok"
	Fail         = "fail"
	Info         = "info"
	NemesisEvent = "nemesis" // a fault injected or healed
	Stats        = "stats"   // a writer's periodic figures (replay backlog)
	Drained      = "drained" // a writer's end: its replay log drained, or not (Err)
	// Corrupt is not written: ReadHistory returns it for an unparsable line other than a torn
	// last line (Process the file, Value the line), and the checker reports it.
	Corrupt = "corrupt"
)

// Functions of operations.
const (
	FInsert    = "insert"     // INSERT INTO kv (k, v)
	FUpdate    = "update"     // UPDATE kv SET v
	FDelete    = "delete"     // DELETE FROM kv (the whole row)
	FAdd       = "add"        // UPDATE kv SET tags = tags + {e}
	FRemove    = "remove"     // UPDATE kv SET tags = tags - {e}
	FBatch     = "batch"      // a logged batch of the above, one timestamp
	FCacheGet  = "cache-get"  // Client.Get
	FCacheFill = "cache-fill" // read the region's keyspace, then SetLocal
	FCacheSet  = "cache-set"  // Client.Set after a write (replicated)
	FCacheDel  = "cache-del"  // Client.Delete after a write (invalidation)
)

// Mut is one mutation of a write: a statement's effect on one row of kv.
type Mut struct {
	F    string `json:"f"`              // FInsert, FUpdate, FDelete, FAdd, FRemove
	K    int    `json:"k"`              // partition key
	V    string `json:"v,omitempty"`    // value written to v (insert/update)
	Elem string `json:"elem,omitempty"` // set element (add/remove)
}

// Op is one line of the history.
type Op struct {
	Time    int64  `json:"t"`            // wall clock, unix ns (the machine's, never skewed)
	Type    string `json:"type"`         // Invoke, OK, Fail, Info, NemesisEvent, Stats, Drained
	Process string `json:"proc"`         // writer-us#2 (region, incarnation), nemesis, campaign
	ID      string `json:"id,omitempty"` // operation id, unique in the run; invoke and completion share it
	F       string `json:"f,omitempty"`  // function: FInsert … FCacheDel, or a fault kind
	Region  string `json:"region,omitempty"`
	Muts    []Mut  `json:"muts,omitempty"` // writes: what they change
	TS      int64  `json:"ts,omitempty"`   // writes: client timestamp µs (from the writer's clock)
	Phase   string `json:"phase,omitempty"`
	// Epoch is the migration epoch a migrating writer's session had applied when the write began
	// (writes and phase stats), or the epoch a phase change made (nemesis set/applied events).
	Epoch int64  `json:"epoch,omitempty"`
	Key   string `json:"key,omitempty"` // cache ops: the cache key
	Value string `json:"value,omitempty"`
	Err   string `json:"err,omitempty"`
	// Nemesis: Target is what the fault hits, Value "start" or "end".
	Target string `json:"target,omitempty"`
	// Stats / Drained: the replay backlog (and a kill-disk's "disk lost" event: the entries the
	// lost replay directory held).
	Backlog int64 `json:"backlog,omitempty"`
	// Stats / Drained of a migrating writer: its hand-off's counts so far in this incarnation
	// (dualwrite.HandoffStats: copied in the background, handed off at Close, adopted).
	Copied    int64 `json:"copied,omitempty"`
	HandedOff int64 `json:"handed_off,omitempty"`
	Adopted   int64 `json:"adopted,omitempty"`
	// Leaked (Drained) is how many goroutines outlived the writer's Close of its session and publisher.
	Leaked int `json:"leaked,omitempty"`
	// Cause (cache-del) is the id of the write whose invalidation this is.
	Cause string `json:"cause,omitempty"`
	// LatencyNs is the completion's time since its invoke.
	LatencyNs int64 `json:"lat_ns,omitempty"`
}

// Recorder appends history lines to a file, one write(2) per line, so a kill -9 of the process
// loses no line it returned from Record for.
type Recorder struct {
	mu sync.Mutex
	f  *os.File
}

// NewRecorder opens (appends to) the history file at path.
func NewRecorder(path string) (*Recorder, error) {
	f, err := private.OpenAppend(path)
	if err != nil {
		return nil, fmt.Errorf("chaos: open history %s: %w", path, err)
	}
	return &Recorder{f: f}, nil
}

// Record writes op (stamped with the wall clock when Time is zero).
func (r *Recorder) Record(op Op) {
	if op.Time == 0 {
		op.Time = time.Now().UnixNano()
	}
	b, _ := json.Marshal(op)
	b = append(b, '\n')
	r.mu.Lock()
	defer r.mu.Unlock()
	r.f.Write(b)
}

// Close closes the file.
func (r *Recorder) Close() error { return r.f.Close() }

// fragProcRE finds the process of a torn line's fragment.
var fragProcRE = regexp.MustCompile(`"proc":"([^"]*)"`)

// ReadHistory reads every history file given and returns the lines in time order. A torn last line
// (the writer was killed mid-write: the file does not end with a newline) is skipped, and so is a
// killed incarnation's torn line with the next incarnation's first line glued to it (the line
// kept); any other line that does not parse is returned as a Corrupt op, stamped with the time of
// the line before it, for the checker to report.
func ReadHistory(paths ...string) ([]Op, error) {
	var out []Op
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("chaos: read history: %w", err)
		}
		var last int64
		var prevProc string
		for len(b) > 0 {
			line, rest, complete := bytes.Cut(b, []byte("\n"))
			b = rest
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var op Op
			if err := json.Unmarshal(line, &op); err != nil {
				if !complete {
					break // torn last line
				}
				// A killed incarnation's torn last line, then the next incarnation's first line
				// appended to it: the fragment is skipped, the line after it kept — only at such a
				// boundary, when the line after the fragment is another process's (incarnation's)
				// than the fragment's (its "proc" when the fragment still holds it, else the line
				// before it's). A fragment followed by its own process's next line is a line torn
				// inside a live incarnation (a short write): corrupt, never repaired.
				if i := bytes.LastIndex(line, []byte(`{"t":`)); i > 0 && json.Unmarshal(line[i:], &op) == nil {
					frag := prevProc
					if m := fragProcRE.FindSubmatch(line[:i]); m != nil {
						frag = string(m[1])
					}
					if op.Process != frag {
						last, prevProc = op.Time, op.Process
						out = append(out, op)
						continue
					}
				}
				out = append(out, Op{Time: last, Type: Corrupt, Process: p, Value: string(line[:min(len(line), 200)])})
				continue
			}
			last, prevProc = op.Time, op.Process
			out = append(out, op)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time < out[j].Time })
	return out, nil
}

// Completed is an operation with its invoke and completion paired.
type Completed struct {
	Invoke  Op
	Outcome string // OK, Fail, Info; Info also when the process died before completing it
	End     Op     // the completion line (zero when none)
}

// Pair pairs invokes with their completions, in invoke order.
func Pair(h []Op) []Completed {
	idx := map[string]int{}
	var out []Completed
	for _, op := range h {
		switch op.Type {
		case Invoke:
			idx[op.ID] = len(out)
			out = append(out, Completed{Invoke: op, Outcome: Info})
		case OK, Fail, Info:
			if i, ok := idx[op.ID]; ok {
				out[i].Outcome, out[i].End = op.Type, op
			}
		}
	}
	return out
}

// OperationSequences returns, per writer region, incarnation and worker ("us0-2"), the operations
// its workers planned (Plan), in op-index order, as invoked: id, function, key, mutations and
// value, with no outcome, timestamp or time, so two runs of one seed can be compared whatever the
// services answered. A run that lasted longer has more; the shorter sequence must be a prefix.
func OperationSequences(h []Op) map[string][]Op {
	type indexed struct {
		i  int
		op Op
	}
	by := map[string][]indexed{}
	for _, op := range h {
		if op.Type != Invoke {
			continue
		}
		parts := strings.Split(op.ID, "-")
		if len(parts) != 3 { // a fill or an invalidation of a planned op: not planned itself
			continue
		}
		i, err := strconv.Atoi(parts[2])
		if err != nil {
			continue
		}
		by[parts[0]+"-"+parts[1]] = append(by[parts[0]+"-"+parts[1]], indexed{i, Op{ID: op.ID, F: op.F, Key: op.Key, Muts: op.Muts, Value: op.Value}})
	}
	out := map[string][]Op{}
	for w, ops := range by {
		sort.Slice(ops, func(a, b int) bool { return ops[a].i < ops[b].i })
		for _, o := range ops {
			out[w] = append(out[w], o.op)
		}
	}
	return out
}
