package cachesync

import (
	"context"

	"github.com/bradfitz/gomemcache/memcache"
)

// Memcache is the part of gomemcache's *memcache.Client that cachesync uses. *memcache.Client
// implements it; unit tests of the consistency rules use an in-memory one.
type Memcache interface {
	Get(key string) (*memcache.Item, error)
	GetMulti(keys []string) (map[string]*memcache.Item, error)
	Add(item *memcache.Item) error
	CompareAndSwap(item *memcache.Item) error
	Touch(key string, seconds int32) error
	Delete(key string) error
	Ping() error
}

// Sink is where a Client sends its events: a *Publisher.
type Sink interface {
	Publish(ctx context.Context, ev *Event) error
}
