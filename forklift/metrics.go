package forklift

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are forklift's Prometheus series. Names: islands_forklift_<what>_<unit>.
type metrics struct {
	rows        *prometheus.CounterVec
	partitions  *prometheus.CounterVec
	statements  *prometheus.CounterVec
	ranges      *prometheus.CounterVec
	retries     *prometheus.CounterVec
	conflicts   *prometheus.CounterVec
	quarantined *prometheus.CounterVec
	differences *prometheus.CounterVec
	pageSeconds *prometheus.HistogramVec
}

// newMetrics builds the collectors and registers them with reg (nil: not exported). A second
// forklift call with the same registry reuses the collectors already registered.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "islands_forklift_rows_total",
			Help: "Rows read from the source and handled (written, merged or skipped), by table."}, []string{"table"}),
		partitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "islands_forklift_partitions_total",
			Help: "Partitions handled, by table."}, []string{"table"}),
		statements: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "islands_forklift_statements_total",
			Help: "Write statements sent to the destination, by table."}, []string{"table"}),
		ranges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "islands_forklift_ranges_done_total",
			Help: "Token ranges finished, by table."}, []string{"table"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "islands_forklift_retries_total",
			Help: "Requests retried after a timeout or overload, by operation."}, []string{"op"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "islands_forklift_conflicts_total",
			Help: "Cells whose two sides disagreed, by table and column."}, []string{"table", "column"}),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "islands_forklift_quarantined_partitions_total",
			Help: "Partitions a resolver refused to merge, by table."}, []string{"table"}),
		differences: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "islands_forklift_verify_differences_total",
			Help: "Differences verify found, by table and kind (missing, mismatched, superseded)."}, []string{"table", "kind"}),
		pageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "islands_forklift_page_seconds",
			Help: "Time to write one page of partitions, by table.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}, []string{"table"}),
	}
	if reg == nil {
		return m
	}
	m.rows = register(reg, m.rows)
	m.partitions = register(reg, m.partitions)
	m.statements = register(reg, m.statements)
	m.ranges = register(reg, m.ranges)
	m.retries = register(reg, m.retries)
	m.conflicts = register(reg, m.conflicts)
	m.quarantined = register(reg, m.quarantined)
	m.differences = register(reg, m.differences)
	m.pageSeconds = register(reg, m.pageSeconds)
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
