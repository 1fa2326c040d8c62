package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestSecondRegistrationSharesTheFirst(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "islands_test_events_total", Help: "Events."}
	a, err := Register(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Register(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatalf("second registration: %v", err)
	}
	a.Inc()
	b.Inc()
	var m dto.Metric
	a.Write(&m)
	if got := m.GetCounter().GetValue(); got != 2 {
		t.Fatalf("the two registrations count %v together, want 2 (one series)", got)
	}

	vopts := prometheus.CounterOpts{Name: "islands_test_by_session_total", Help: "By session."}
	v1 := MustRegister(reg, prometheus.NewCounterVec(vopts, []string{"session"}))
	v2 := MustRegister(reg, prometheus.NewCounterVec(vopts, []string{"session"}))
	v1.WithLabelValues("a").Inc()
	v2.WithLabelValues("b").Inc()
	ch := make(chan prometheus.Metric, 10)
	v1.Collect(ch)
	if n := len(ch); n != 2 {
		t.Fatalf("%d series, want one per session", n)
	}
}

func TestConflictingRegistrationIsAnError(t *testing.T) {
	reg := prometheus.NewRegistry()
	MustRegister(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "islands_test_x_total", Help: "X."}))
	if _, err := Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "islands_test_x_total", Help: "Other."})); err == nil {
		t.Fatal("a gauge under a counter's name registered silently")
	}
	if c, err := Register[prometheus.Counter](nil, prometheus.NewCounter(prometheus.CounterOpts{Name: "n", Help: "n"})); err != nil || c == nil {
		t.Fatalf("nil registerer: %v", err)
	}
}
