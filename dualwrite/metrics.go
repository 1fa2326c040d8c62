package dualwrite

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	imetrics "github.com/globalcloud/islands/internal/metrics"
)

// metrics are the session's Prometheus series, labelled session=<WithName>; a nil *metrics
// records nothing. Several sessions may share one registry: a collector already registered under
// the same name and labels is reused. Every counter series exists from the start with value 0
// (labelled vectors: every label value the session can use), so alerts need no `or vector(0)`.
//
// errors_total{side,phase} and follower_late_total count different things and do not add up:
// errors_total counts requests a side answered with an error (on either side, caller writes and
// background follower writes alike, when they end); follower_late_total counts follower writes the
// caller stopped waiting for at the follower budget, which were kept for replay and may still
// succeed in the background (then they are in no errors_total). A follower write that is late and
// then fails is in both.
type metrics struct {
	latency       prometheus.ObserverVec // side, phase
	errors        *prometheus.CounterVec // side, phase
	logged        prometheus.Counter
	replayed      prometheus.Counter
	refused       *prometheus.CounterVec // reason
	shadowReads   prometheus.Counter
	shadowDiff    prometheus.Counter
	lwtDiff       prometheus.Counter
	uncertain     prometheus.Counter
	asyncOverflow prometheus.Counter
	asyncUnkept   prometheus.Counter
	asyncLost     prometheus.Counter
	late          prometheus.Counter
	rebuilds      *prometheus.CounterVec // side
	deadLettered  prometheus.Counter
	cannotHeal    *prometheus.GaugeVec // side
}

// setCannotHeal sets islands_dualwrite_side_cannot_heal{side}.
func (m *metrics) setCannotHeal(sd side, v bool) {
	if m == nil {
		return
	}
	g := 0.0
	if v {
		g = 1
	}
	m.cannotHeal.WithLabelValues(sd.String()).Set(g)
}

func newMetrics(reg prometheus.Registerer, name string, s *Session) *metrics {
	if reg == nil {
		return nil
	}
	lbl := prometheus.Labels{"session": name}
	counter := func(n, help string) prometheus.Counter {
		return register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: n, Help: help, ConstLabels: lbl}))
	}
	counterVec := func(n, help string, labels ...string) *prometheus.CounterVec {
		return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: n, Help: help, ConstLabels: lbl}, labels))
	}
	m := &metrics{
		latency: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "islands_dualwrite_request_duration_seconds", Help: "Latency of each side's requests.", ConstLabels: lbl,
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16)}, []string{"side", "phase"})),
		errors: counterVec("islands_dualwrite_errors_total", "Requests a side answered with an error, per side and phase "+
			"(a follower write past its budget counts here only if it then fails; see follower_late_total).", "side", "phase"),
		logged:        counter("islands_dualwrite_replay_logged_total", "Follower writes appended to the replay log."),
		replayed:      counter("islands_dualwrite_replayed_total", "Replay log entries that landed."),
		refused:       counterVec("islands_dualwrite_refused_total", "Writes refused before reaching either side.", "reason"),
		shadowReads:   counter("islands_dualwrite_shadow_reads_total", "Reads compared on both sides."),
		shadowDiff:    counter("islands_dualwrite_shadow_mismatches_total", "Shadow reads whose sides differed."),
		lwtDiff:       counter("islands_dualwrite_lwt_mismatches_total", "Conditional writes applied on one side only."),
		uncertain:     counter("islands_dualwrite_uncertain_counter_updates_total", "Counter updates that failed on the follower (never replayed)."),
		asyncOverflow: counter("islands_dualwrite_async_overflow_total", "Async follower writes sent to the replay log because the queue was full."),
		asyncUnkept: counter("islands_dualwrite_async_unkept_total", "Acknowledged async follower copies that failed and "+
			"that the replay log could not keep (full or unwritable): held in memory, appended again once it has room."),
		asyncLost: counter("islands_dualwrite_async_lost_total", "Of async_unkept_total, the copies still not kept "+
			"when the session closed: lost for their side (each logged at error)."),
		late: counter("islands_dualwrite_follower_late_total", "Follower writes not answered within the follower budget "+
			"(kept for replay; they may still succeed in the background, so not all are in errors_total)."),
		rebuilds: counterVec("islands_dualwrite_session_rebuilds_total", "gocql sessions rebuilt after their pool had no connections.", "side"),
		deadLettered: counter("islands_dualwrite_replay_dead_lettered_total",
			"Replay log entries set aside in the dead-letter log because they can never land as they are."),
		cannotHeal: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "islands_dualwrite_side_cannot_heal",
			Help: "1 while a side given to New has had no connections for longer than the heal delay (New cannot rebuild it: use Open).", ConstLabels: lbl}, []string{"side"})),
	}
	for _, sd := range []side{primarySide, secondarySide} {
		m.rebuilds.WithLabelValues(sd.String())
		m.cannotHeal.WithLabelValues(sd.String())
		for _, p := range phaseNames {
			m.errors.WithLabelValues(sd.String(), p)
		}
	}
	for _, reason := range refusedReasons {
		m.refused.WithLabelValues(reason)
	}
	register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "islands_dualwrite_replay_backlog_entries", Help: "Entries waiting in the replay log.", ConstLabels: lbl},
		func() float64 { n, _ := s.Backlog(); return float64(n) }))
	register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "islands_dualwrite_async_unkept_entries", Help: "Async follower copies held in memory because the " +
			"replay log could not keep them; they hold their side's authority.", ConstLabels: lbl},
		func() float64 { return float64(s.unkeptHeld()) }))
	register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "islands_dualwrite_replay_oldest_age_seconds", Help: "Age of the oldest entry waiting in the replay log.", ConstLabels: lbl},
		func() float64 { _, age := s.Backlog(); return age.Seconds() }))
	return m
}

// register registers c, or returns the collector already registered in its place (a second
// session of the same name).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	return imetrics.MustRegister(reg, c)
}

// refusedReasons are the values of refused_total's reason label.
var refusedReasons = []string{reasonNonDeterministic, reasonNotIdempotent, reasonNotMutation}

const (
	reasonNonDeterministic = "non-deterministic"
	reasonNotIdempotent    = "not-idempotent"
	reasonNotMutation      = "not-a-mutation"
)

func (m *metrics) observe(sd side, p Phase, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.latency.WithLabelValues(sd.String(), p.String()).Observe(d.Seconds())
	if err != nil {
		m.errors.WithLabelValues(sd.String(), p.String()).Inc()
	}
}
