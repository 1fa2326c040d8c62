package forklift

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	pmetrics "github.com/globalcloud/islands/internal/metrics"
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

// newMetrics builds the collectors and registers them with reg (nil: not exported). A second Job
// on the same registry shares the collectors already registered; a registry that holds another
// series under one of forklift's names is an error.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
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
	var err error
	reg1 := func(c *prometheus.CounterVec) *prometheus.CounterVec {
		if err == nil {
			c, err = pmetrics.Register(reg, c)
		}
		return c
	}
	m.rows = reg1(m.rows)
	m.partitions = reg1(m.partitions)
	m.statements = reg1(m.statements)
	m.ranges = reg1(m.ranges)
	m.retries = reg1(m.retries)
	m.conflicts = reg1(m.conflicts)
	m.quarantined = reg1(m.quarantined)
	m.differences = reg1(m.differences)
	if err == nil {
		m.pageSeconds, err = pmetrics.Register(reg, m.pageSeconds)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: registerer: %v", ErrConfig, err)
	}
	return m, nil
}
