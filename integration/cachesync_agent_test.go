package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/globalcloud/islands/cachesync"
	"github.com/globalcloud/islands/internal/lab/health"
)

// buildCachesync builds cmd/cachesync into a temporary directory.
func buildCachesync(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cachesync")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/cachesync").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/cachesync: %v\n%s", err, out)
	}
	return bin
}

func startAgentProcess(t *testing.T, bin string, e Env, queue, listen string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "-region", "eu-west-1", "-memcached", e.EUMemcached, "-sqs-endpoint", e.SQSEndpoint,
		"-anonymous", "-queue", queue, "-wait-seconds", "1", "-visibility-timeout", "3", "-listen", listen, "-log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := health.Wait(waitCtx(t, 30*time.Second), "http://"+listen+"/healthz"); err != nil {
		t.Fatalf("agent at %s: %v", listen, err)
	}
	return cmd
}

// TestCachesyncAgentKill9: the eu agent process is killed with -9 in mid-stream and started
// again; every event reaches the eu memcached (messages it held come back after their visibility
// timeout), and SIGTERM stops the second agent cleanly.
func TestCachesyncAgentKill9(t *testing.T) {
	e := needServices(t)
	bin := buildCachesync(t)
	us, eu := csRegions(t, e, "cachesync-kill9", cachesync.PublisherOptions{})
	listen := "127.0.0.1:19464"
	agent := startAgentProcess(t, bin, e, eu.queue, listen)
	run := fmt.Sprint(time.Now().UnixNano())
	model := &csModel{newest: map[string]csWrite{}}
	ctx := context.Background()
	for i := 0; i < 5000; i++ {
		if i == 2500 {
			agent.Process.Kill()
			agent.Wait()
			t.Logf("agent killed with -9 after %d events published", i)
		}
		if i == 3500 {
			agent = startAgentProcess(t, bin, e, eu.queue, listen)
			t.Log("agent restarted")
		}
		key := csKey(run, "profile", i%4000)
		val := fmt.Sprint("v", i)
		v, err := us.client.Set(ctx, &cachesync.Item{Key: key, Value: []byte(val)})
		if err != nil {
			t.Fatal(err)
		}
		model.add(csWrite{key: key, value: val, version: v})
		if i%100 == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitDrained(t, e, 2*time.Minute, eu.queue)
	checked := csCheck(t, model, us, eu)
	resp, err := http.Get("http://" + listen + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %v", err)
	}
	resp.Body.Close()
	agent.Process.Signal(syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- agent.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("agent exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not stop within 30s of SIGTERM")
	}
	t.Logf("FIGURES events=%d keys_checked=%d lost=0", len(model.all), checked)
}
