package dualwrite

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the session's Prometheus series; a nil *metrics records nothing.
type metrics struct {
	latency       *prometheus.HistogramVec // side, phase
	errors        *prometheus.CounterVec   // side, phase
	logged        prometheus.Counter
	replayed      prometheus.Counter
	refused       *prometheus.CounterVec // reason
	shadowReads   prometheus.Counter
	shadowDiff    prometheus.Counter
	lwtDiff       prometheus.Counter
	uncertain     prometheus.Counter
	asyncOverflow prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Session) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "islands_dualwrite_request_duration_seconds", Help: "Latency of each side's requests.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16)}, []string{"side", "phase"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "islands_dualwrite_errors_total", Help: "Failed requests per side and phase."}, []string{"side", "phase"}),
		logged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "islands_dualwrite_replay_logged_total", Help: "Follower writes appended to the replay log."}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "islands_dualwrite_replayed_total", Help: "Replay log entries that landed."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "islands_dualwrite_refused_total", Help: "Writes refused before reaching either side."}, []string{"reason"}),
		shadowReads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "islands_dualwrite_shadow_reads_total", Help: "Reads compared on both sides."}),
		shadowDiff: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "islands_dualwrite_shadow_mismatches_total", Help: "Shadow reads whose sides differed."}),
		lwtDiff: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "islands_dualwrite_lwt_mismatches_total", Help: "Conditional writes applied on one side only."}),
		uncertain: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "islands_dualwrite_uncertain_counter_updates_total", Help: "Counter updates that failed on the follower (never replayed)."}),
		asyncOverflow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "islands_dualwrite_async_overflow_total", Help: "Async follower writes sent to the replay log because the queue was full."}),
	}
	backlog := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "islands_dualwrite_replay_backlog_entries", Help: "Entries waiting in the replay log."},
		func() float64 { n, _ := s.Backlog(); return float64(n) })
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "islands_dualwrite_replay_oldest_age_seconds", Help: "Age of the oldest entry waiting in the replay log."},
		func() float64 { _, age := s.Backlog(); return age.Seconds() })
	for _, c := range []prometheus.Collector{m.latency, m.errors, m.logged, m.replayed, m.refused, m.shadowReads,
		m.shadowDiff, m.lwtDiff, m.uncertain, m.asyncOverflow, backlog, age} {
		reg.MustRegister(c)
	}
	return m
}

func (m *metrics) observe(sd side, p Phase, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.latency.WithLabelValues(sd.String(), p.String()).Observe(d.Seconds())
	if err != nil {
		m.errors.WithLabelValues(sd.String(), p.String()).Inc()
	}
}

func (m *metrics) inc(c prometheus.Counter) {
	if m != nil {
		c.Inc()
	}
}
