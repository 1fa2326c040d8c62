package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cachesync"
	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/internal/lab/world"
)

// ErrClosed is returned by a Region's methods after Close.
var ErrClosed = errors.New("lab: region closed")

// Options configure the Region handles a program opens.
type Options struct {
	// Access says how each Cassandra role connects (cqlconn.FromEnv); a role missing from it
	// connects as cqlconn.FromEnv(role) says.
	Access map[cqlconn.Role]cqlconn.Access
	// Configure, when set, adjusts every gocql configuration the handle makes (Cluster, LocalOnly)
	// before it is used: timeouts, a quiet logger.
	Configure func(*gocql.ClusterConfig)
	// Logger receives the handle's and its cache's logs (nil = quiet).
	Logger *slog.Logger
}

// Region is one region of the local world as a program running in it holds it: its view of the
// global cluster and a session per Cassandra role on it, its memcached, an SQS client for its own
// server and one for every other region's server (through the WAN), and, once StartCache ran, the
// cache side: a publisher per other region, the cachesync client writing through them, and the
// agent applying the other regions' events from its own queue. One handle per region replaces the
// one-value-per-region arrays programs of the lab used to hold; a third region is one more handle.
//
// Invariants:
//   - Everything a handle opened, it closes: Close stops the agent (waiting for it), closes the
//     publishers (their spills stay on disk) and every session Session opened. Sessions from
//     Connect belong to the caller.
//   - Paths follow the world's rule: the region's own services directly, another region's only
//     through the WAN (world.Env.SQS, world.Env.Translator).
//
// A Region's methods may be called from several goroutines.
type Region struct {
	// Name is the region, also its datacenter's name in the global cluster.
	Name world.Region
	// Memcached is the region's memcached.
	Memcached *memcache.Client
	// SQS is the region's own SQS server, reached from the region.
	SQS *sqs.Client

	env  world.Env
	opts Options
	out  map[world.Region]*sqs.Client // every other region's SQS server, through the WAN

	mu        sync.Mutex
	closed    bool
	sessions  map[cqlconn.Role]*gocql.Session
	queueURL  string
	pub       *cachesync.Publisher // to every other region (StartCache)
	cache     *cachesync.Client
	agent     *cachesync.Agent
	stopAgent context.CancelFunc
	agentDone chan struct{}
}

// Open returns region name's handle in env. It dials nothing: sessions open on first use
// (Session), queue URLs are asked for when needed (QueueURL, StartCache).
func Open(ctx context.Context, env world.Env, name world.Region, opts Options) (*Region, error) {
	if !world.Known(name) {
		return nil, fmt.Errorf("lab: region %q: not a region of the world %v", name, world.Regions)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Region{Name: name, Memcached: memcache.New(env.Memcached(name)), env: env, opts: opts,
		out: map[world.Region]*sqs.Client{}, sessions: map[cqlconn.Role]*gocql.Session{}}
	var err error
	if r.SQS, err = world.SQSClient(ctx, string(name), env.SQS(name, name)); err != nil {
		return nil, fmt.Errorf("lab: %s: %w", name, err)
	}
	for _, o := range r.Others() {
		if r.out[o], err = world.SQSClient(ctx, string(o), env.SQS(name, o)); err != nil {
			return nil, fmt.Errorf("lab: %s: SQS of %s: %w", name, o, err)
		}
	}
	return r, nil
}

// OpenAll opens a handle for every region of the world, in world.Regions' order; on an error the
// ones already open are closed.
func OpenAll(ctx context.Context, env world.Env, opts Options) ([]*Region, error) {
	var rs []*Region
	for _, name := range world.Regions {
		r, err := Open(ctx, env, name, opts)
		if err != nil {
			CloseAll(rs)
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// CloseAll closes every handle of rs (nil ones skipped).
func CloseAll(rs []*Region) {
	for _, r := range rs {
		if r != nil {
			r.Close()
		}
	}
}

// Others returns every other region of the world, in world.Regions' order.
func (r *Region) Others() []world.Region {
	var out []world.Region
	for _, o := range world.Regions {
		if o != r.Name {
			out = append(out, o)
		}
	}
	return out
}

// SQSTo returns region to's SQS server as this region reaches it: its own directly, another's
// through the WAN.
func (r *Region) SQSTo(to world.Region) *sqs.Client {
	if to == r.Name {
		return r.SQS
	}
	return r.out[to]
}

// Cluster returns the gocql configuration of an application in this region on the global cluster
// (world.Env.GlobalCluster: its own datacenter directly, the others through the WAN), adjusted by
// Options.Configure, without credentials (Connect applies a role's).
func (r *Region) Cluster() *gocql.ClusterConfig {
	c := r.env.GlobalCluster(r.Name)
	if r.opts.Configure != nil {
		r.opts.Configure(c)
	}
	return c
}

// LocalOnly returns Cluster restricted to this region's datacenter: what a check of "this region
// serves" reads through, with no fallback to another region's node.
func (r *Region) LocalOnly() *gocql.ClusterConfig {
	c := r.Cluster()
	c.HostFilter = gocql.DataCentreHostFilter(r.Name.DC())
	return c
}

// access returns how role connects.
func (r *Region) access(role cqlconn.Role) (cqlconn.Access, error) {
	if a, ok := r.opts.Access[role]; ok {
		return a, nil
	}
	return cqlconn.FromEnv(role)
}

// Connect opens a session of role on c; a refusal (credentials, TLS) comes back explained
// (cqlconn.Explain). The session is the caller's to close.
func (r *Region) Connect(role cqlconn.Role, c *gocql.ClusterConfig) (*gocql.Session, error) {
	a, err := r.access(role)
	if err == nil {
		err = a.Apply(c)
	}
	if err != nil {
		return nil, fmt.Errorf("lab: %s as %s: %w", r.Name, role.Name(), err)
	}
	s, err := c.CreateSession()
	if err != nil {
		return nil, fmt.Errorf("lab: connect to %v from %s as %s: %w", c.Hosts, r.Name, role.Name(), cqlconn.Explain(err, a, c.Hosts...))
	}
	return s, nil
}

// Session returns the region's session of role on Cluster, opening it on first use; the handle
// owns it (Close, or CloseSession, closes it).
func (r *Region) Session(role cqlconn.Role) (*gocql.Session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if s := r.sessions[role]; s != nil {
		return s, nil
	}
	s, err := r.Connect(role, r.Cluster())
	if err != nil {
		return nil, err
	}
	r.sessions[role] = s
	return s, nil
}

// CloseSession closes the region's session of role, if open; the next Session opens a new one.
func (r *Region) CloseSession(role cqlconn.Role) {
	r.mu.Lock()
	s := r.sessions[role]
	delete(r.sessions, role)
	r.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

// QueueURL returns the URL of the region's queue (world.Env.Queue) on its own SQS server.
func (r *Region) QueueURL(ctx context.Context) (string, error) {
	r.mu.Lock()
	u := r.queueURL
	r.mu.Unlock()
	if u != "" {
		return u, nil
	}
	name := r.env.Queue(r.Name)
	out, err := r.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("lab: queue %s in %s: %w", name, r.Name, err)
	}
	r.mu.Lock()
	r.queueURL = aws.ToString(out.QueueUrl)
	r.mu.Unlock()
	return aws.ToString(out.QueueUrl), nil
}

// CacheOptions configure a region's cache side (StartCache).
type CacheOptions struct {
	// Rules choose replicate or invalidate per key prefix.
	Rules cachesync.Rules
	// SpillDir, when set, holds the publisher's durable spill (one log per destination queue).
	SpillDir string
	// Agent configures the agent applying the other regions' events (Logger defaults to the
	// handle's).
	Agent cachesync.AgentOptions
}

// StartCache starts the region's cache side: a publisher to every other region (each region's
// queue on its own SQS server through that region's client, across the WAN: NewPublisherTo), the
// cachesync client writing the region's memcached through it, and the agent applying, from the
// region's own queue, the other regions' events. The queues must exist (scripts/regions creates
// them).
func (r *Region) StartCache(ctx context.Context, o CacheOptions) error {
	r.mu.Lock()
	started, closed := r.cache != nil, r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if started {
		return fmt.Errorf("lab: %s: cache already started", r.Name)
	}
	var dests []cachesync.Destination
	for _, to := range r.Others() {
		dests = append(dests, cachesync.Destination{Region: string(to), Client: r.out[to], Queue: r.env.Queue(to)})
	}
	po := cachesync.PublisherOptions{Logger: r.opts.Logger.With("region", string(r.Name)), SpillDir: o.SpillDir}
	pub, err := cachesync.NewPublisherTo(ctx, dests, nil, po)
	if err != nil {
		return fmt.Errorf("lab: %s: publisher: %w", r.Name, err)
	}
	c, err := cachesync.NewClient(r.Memcached, pub, cachesync.ClientOptions{Region: string(r.Name), Rules: o.Rules})
	if err != nil {
		pub.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("lab: %s: cache client: %w", r.Name, err)
	}
	r.mu.Lock()
	r.pub, r.cache = pub, c
	r.mu.Unlock()
	if err := r.StartAgent(ctx, o.Agent); err != nil {
		return err
	}
	return nil
}

// StartAgent starts the region's agent on its own queue (again, after StopAgent: a restarted
// agent process). The handle runs it until StopAgent or Close.
func (r *Region) StartAgent(ctx context.Context, opts cachesync.AgentOptions) error {
	url, err := r.QueueURL(ctx)
	if err != nil {
		return err
	}
	if opts.Logger == nil {
		opts.Logger = r.opts.Logger.With("region", string(r.Name))
	}
	a, err := cachesync.NewAgent(r.SQS, url, r.Memcached, opts)
	if err != nil {
		return fmt.Errorf("lab: %s: agent: %w", r.Name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if r.agent != nil {
		return fmt.Errorf("lab: %s: agent already running", r.Name)
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	r.agent, r.stopAgent, r.agentDone = a, cancel, done
	go func() { a.Run(actx); close(done) }()
	return nil
}

// StopAgent stops the region's agent and waits until it returned; a no-op when none runs.
func (r *Region) StopAgent() {
	r.mu.Lock()
	stop, done := r.stopAgent, r.agentDone
	r.agent, r.stopAgent, r.agentDone = nil, nil, nil
	r.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// Cache returns the region's cachesync client (nil before StartCache).
func (r *Region) Cache() *cachesync.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cache
}

// Agent returns the region's running agent (nil when none runs).
func (r *Region) Agent() *cachesync.Agent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.agent
}

// Publisher returns the region's publisher to every other region (nil before StartCache).
func (r *Region) Publisher() *cachesync.Publisher {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pub
}

// Close stops the agent, closes the publisher (closeFlush bounds its flush; what it could not send
// stays in its spill) and every session the handle opened. It is idempotent.
func (r *Region) Close() error {
	r.StopAgent()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	pub, sessions := r.pub, r.sessions
	r.pub, r.sessions = nil, nil
	r.mu.Unlock()
	var errs []error
	if pub != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeFlush)
		if err := pub.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("lab: %s: publisher: %w", r.Name, err))
		}
		cancel()
	}
	for _, s := range sessions {
		s.Close()
	}
	return errors.Join(errs...)
}

// closeFlush bounds how long Close lets each publisher flush.
const closeFlush = 5 * time.Second
