package authz

import (
	"container/list"
	"sync"
	"time"
)

// cache keeps decisions for a while: at most size entries, the least
// recently used going first. Safe for concurrent use.
type cache[V any] struct {
	mu    sync.Mutex
	size  int
	ll    *list.List // front: most recently used
	items map[string]*list.Element
}

type entry[V any] struct {
	key     string
	value   V
	expires time.Time
}

func newCache[V any](size int) *cache[V] {
	return &cache[V]{size: size, ll: list.New(), items: map[string]*list.Element{}}
}

// get returns the value for key unless it is missing or expired.
func (c *cache[V]) get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.items[key]
	if !ok {
		return zero, false
	}
	e := el.Value.(*entry[V])
	if !now.Before(e.expires) {
		c.ll.Remove(el)
		delete(c.items, key)
		return zero, false
	}
	c.ll.MoveToFront(el)
	return e.value, true
}

// put keeps value for ttl; a ttl of zero or less keeps nothing.
func (c *cache[V]) put(key string, value V, ttl time.Duration, now time.Time) {
	if ttl <= 0 || c.size <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*entry[V])
		e.value, e.expires = value, now.Add(ttl)
		c.ll.MoveToFront(el)
		return
	}
	for c.ll.Len() >= c.size {
		oldest := c.ll.Back()
		c.ll.Remove(oldest)
		delete(c.items, oldest.Value.(*entry[V]).key)
	}
	c.items[key] = c.ll.PushFront(&entry[V]{key: key, value: value, expires: now.Add(ttl)})
}

// len is the number of entries, expired or not.
func (c *cache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
