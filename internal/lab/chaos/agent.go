package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/globalcloud/islands/cachesync"
	"github.com/globalcloud/islands/internal/lab/world"
)

// AgentConfig is one region's cachesync agent as the campaign runs it (`islands-lab chaos-agent`):
// the library's Agent with cmd/cachesync's settings, on a clock the campaign skews with the
// region's writers (ControlPath's skew of Region), which cmd/cachesync cannot take.
type AgentConfig struct {
	Region       string
	Memcached    string
	SQSEndpoint  string // the region's own SQS server
	Queue        string // the region's queue URL
	Listen       string // /healthz
	ControlPath  string
	TombstoneTTL time.Duration
	Out          io.Writer `json:"-"`
}

// RunAgent runs the agent until ctx ends (SIGTERM), then lets the messages in hand finish.
func RunAgent(ctx context.Context, cfg AgentConfig) error {
	if cfg.Out == nil {
		cfg.Out = os.Stderr
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("chaos agent: %w", err)
	}
	defer ln.Close()
	client, err := world.SQSClient(ctx, cfg.Region, cfg.SQSEndpoint)
	if err != nil {
		return err
	}
	clk := &skewClock{}
	readSkew := func() {
		if c, err := ReadControl(cfg.ControlPath); err == nil {
			clk.skew.Store(c.Skew[cfg.Region] * int64(time.Millisecond))
		}
	}
	readSkew()
	mc := memcache.New(cfg.Memcached)
	mc.Timeout = 2 * time.Second
	mc.MaxIdleConns = 32 + 8
	logger := slog.New(slog.NewTextHandler(cfg.Out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	agent, err := cachesync.NewAgent(client, cfg.Queue, mc, cachesync.AgentOptions{WaitSeconds: 1, VisibilityTimeout: 5,
		RetryDelay: 1, TombstoneTTL: cfg.TombstoneTTL, Now: clk.now, Logger: logger})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := agent.Healthy(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server", "listen", cfg.Listen, "err", err)
		}
	}()
	done := make(chan struct{})
	go func() { agent.Run(ctx); close(done) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-tick.C:
			readSkew()
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
