package cachesync

import (
	"github.com/prometheus/client_golang/prometheus"

	promreg "github.com/globalcloud/islands/internal/metrics"
)

// metrics are cachesync's Prometheus series; a nil *metrics records nothing.
type metrics struct {
	published   *prometheus.CounterVec // op
	sendErrors  prometheus.Counter
	dropped     prometheus.Counter
	degraded    prometheus.Counter
	batches     prometheus.Histogram
	applied     *prometheus.CounterVec // op, result (applied, stale)
	poison      prometheus.Counter
	applyErr    prometheus.Counter
	lag         prometheus.Histogram
	relayed     *prometheus.CounterVec // type
	unversioned prometheus.Counter
	notApplied  *prometheus.CounterVec // op
	fills       *prometheus.CounterVec // result: stored, voided, held
	late        prometheus.Counter
	spilled     prometheus.Counter
	unspilled   prometheus.Counter
	publishWait prometheus.Histogram
	refused     *prometheus.CounterVec // outcome: replaced (sent as an invalidation), dropped
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "islands_cachesync_published_total",
			Help: "Events sent to other regions' queues."}, []string{"op"}),
		sendErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "islands_cachesync_send_errors_total",
			Help: "SQS send attempts that failed (entries are retried)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "islands_cachesync_dropped_total",
			Help: "Events dropped because the publish buffer was full (drop policy)."}),
		degraded: prometheus.NewCounter(prometheus.CounterOpts{Name: "islands_cachesync_degraded_to_invalidation_total",
			Help: "Replicated values too large for one message, sent as invalidations."}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "islands_cachesync_batch_entries",
			Help: "Entries per SendMessageBatch call.", Buckets: prometheus.LinearBuckets(1, 1, 10)}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "islands_cachesync_events_total",
			Help: "Events received and applied to the local memcached, by result."}, []string{"op", "result"}),
		poison: prometheus.NewCounter(prometheus.CounterOpts{Name: "islands_cachesync_poison_messages_total",
			Help: "Malformed or unknown messages left for the dead-letter queue."}),
		applyErr: prometheus.NewCounter(prometheus.CounterOpts{Name: "islands_cachesync_apply_errors_total",
			Help: "Events that could not be applied yet (memcached unreachable …); retried."}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "islands_cachesync_lag_seconds",
			Help:    "Time from the local write in the origin region to the event applied here.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "islands_cachesync_relay_events_total",
			Help: "Application events handled, by type."}, []string{"type"}),
	}
	m.unversioned = register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "islands_cachesync_unversioned_values_total",
		Help: "Cached values without cachesync's flag and header (written by a plain client), read as misses."}))
	m.notApplied = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "islands_cachesync_not_applied_total",
		Help: "Local writes that did not apply because a newer version is held, by op."}, []string{"op"}))
	m.fills = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "islands_cachesync_fills_total",
		Help: "Cache-aside fills, by result (stored, voided by a write since BeginFill, held: a value was cached)."}, []string{"result"}))
	m.late = register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "islands_cachesync_late_events_total",
		Help: "Set events older than the tombstone lifetime, applied as invalidations."}))
	m.spilled = register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "islands_cachesync_spilled_total",
		Help: "Events written to the local spill file (buffer full, SQS down or shutdown)."}))
	m.unspilled = register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "islands_cachesync_unspilled_total",
		Help: "Spilled events read back and queued for sending."}))
	m.publishWait = register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{Name: "islands_cachesync_publish_wait_seconds",
		Help: "Time Publish spent waiting for buffer space.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}))
	m.refused = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "islands_cachesync_refused_entries_total",
		Help: "Entries SQS refused for good (InvalidMessageContents, too large …), by outcome: replaced (re-encoded or sent as an invalidation) or dropped."}, []string{"outcome"}))
	m.published = register(reg, m.published)
	m.sendErrors = register(reg, m.sendErrors)
	m.dropped = register(reg, m.dropped)
	m.degraded = register(reg, m.degraded)
	m.batches = register(reg, m.batches)
	m.applied = register(reg, m.applied)
	m.poison = register(reg, m.poison)
	m.applyErr = register(reg, m.applyErr)
	m.lag = register(reg, m.lag)
	m.relayed = register(reg, m.relayed)
	return m
}

// register adds c to reg, or returns the collector already registered under its name, so
// Publishers, Clients and Agents can share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	return promreg.MustRegister(reg, c)
}
