// Package authz decides who may read the dumps of a namespace the way the
// API server decides who may read a pod's logs: the request's bearer token
// is authenticated with a TokenReview, and the user it names is authorized
// with a SubjectAccessReview for a verb on a resource in that namespace.
// Decisions are cached for a short while, allowed ones longer than denied
// ones, so that a dump does not cost two API calls.
package authz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Errors of Authenticate and Allowed, to be told apart with errors.Is.
var (
	// ErrNoToken: the request has no bearer token.
	ErrNoToken = errors.New("no bearer token: send Authorization: Bearer <token>")
	// ErrUnauthenticated: the API server does not know the token.
	ErrUnauthenticated = errors.New("the bearer token is not valid")
	// ErrUnavailable: the API server could not be asked.
	ErrUnavailable = errors.New("the Kubernetes API could not check the request")
)

// Defaults of Config.
const (
	DefaultAllowTTL  = time.Minute
	DefaultDenyTTL   = 10 * time.Second
	DefaultCacheSize = 1024
	DefaultTimeout   = 10 * time.Second
)

// Config of an Authorizer.
type Config struct {
	// Client reaches the API server; its credentials must allow creating
	// tokenreviews and subjectaccessreviews.
	Client kubernetes.Interface
	// The access a caller needs in a namespace to read its dumps, e.g.
	// get pods/log (Group "" is the core group).
	Verb, Group, Resource, Subresource string
	// How long decisions are kept: allowed (and authenticated tokens), and
	// denied (and unknown tokens). Zero or less: not kept.
	AllowTTL, DenyTTL time.Duration
	// CacheSize bounds the decisions kept, for tokens and for access each.
	CacheSize int
	// Timeout bounds one review; zero is DefaultTimeout.
	Timeout time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// User is who a token belongs to, as the API server said.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// Authorizer answers who sent a request and what they may read. Safe for
// concurrent use.
type Authorizer struct {
	cfg    Config
	tokens *cache[*User] // nil: a token the API server rejected
	access *cache[bool]
}

// New checks cfg and builds an Authorizer; it does not contact the API
// server.
func New(cfg Config) (*Authorizer, error) {
	if cfg.Client == nil {
		return nil, errors.New("authz: no Kubernetes client")
	}
	if cfg.Verb == "" || cfg.Resource == "" {
		return nil, fmt.Errorf("authz: verb and resource are required (got %q and %q)", cfg.Verb, cfg.Resource)
	}
	if cfg.CacheSize < 0 {
		return nil, fmt.Errorf("authz: cache size %d must not be negative", cfg.CacheSize)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Authorizer{cfg: cfg, tokens: newCache[*User](cfg.CacheSize), access: newCache[bool](cfg.CacheSize)}, nil
}

// Rule names the access checked, e.g. "get pods/log".
func (a *Authorizer) Rule() string {
	r := a.cfg.Resource
	if a.cfg.Group != "" {
		r += "." + a.cfg.Group
	}
	if a.cfg.Subresource != "" {
		r += "/" + a.cfg.Subresource
	}
	return a.cfg.Verb + " " + r
}

// Token returns the bearer token of a request, "" without one.
func Token(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// Authenticate returns the user whose bearer token the request carries.
func (a *Authorizer) Authenticate(ctx context.Context, r *http.Request) (*User, error) {
	token := Token(r)
	if token == "" {
		return nil, ErrNoToken
	}
	sum := sha256.Sum256([]byte(token))
	key := hex.EncodeToString(sum[:])
	if u, ok := a.tokens.get(key, a.cfg.Now()); ok {
		if u == nil {
			return nil, ErrUnauthenticated
		}
		return u, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	tr, err := a.cfg.Client.AuthenticationV1().TokenReviews().Create(ctx,
		&authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: TokenReview: %v", ErrUnavailable, err)
	}
	if !tr.Status.Authenticated {
		a.tokens.put(key, nil, a.cfg.DenyTTL, a.cfg.Now())
		if tr.Status.Error != "" {
			return nil, fmt.Errorf("%w: %s", ErrUnauthenticated, tr.Status.Error)
		}
		return nil, ErrUnauthenticated
	}
	ui := tr.Status.User
	u := &User{Name: ui.Username, UID: ui.UID, Groups: ui.Groups}
	if len(ui.Extra) > 0 {
		u.Extra = make(map[string][]string, len(ui.Extra))
		for k, v := range ui.Extra {
			u.Extra[k] = v
		}
	}
	a.tokens.put(key, u, a.cfg.AllowTTL, a.cfg.Now())
	return u, nil
}

// Allowed reports whether u may read the dumps of namespace: whether u has
// the configured access there. The namespace "" (containers outside
// Kubernetes pods) asks for the access in every namespace, cluster-wide.
func (a *Authorizer) Allowed(ctx context.Context, u *User, namespace string) (bool, error) {
	key := accessKey(u, namespace)
	if ok, found := a.access.get(key, a.cfg.Now()); found {
		return ok, nil
	}
	spec := authzv1.SubjectAccessReviewSpec{
		User: u.Name, UID: u.UID, Groups: u.Groups,
		ResourceAttributes: &authzv1.ResourceAttributes{Namespace: namespace, Verb: a.cfg.Verb,
			Group: a.cfg.Group, Resource: a.cfg.Resource, Subresource: a.cfg.Subresource},
	}
	if len(u.Extra) > 0 {
		spec.Extra = make(map[string]authzv1.ExtraValue, len(u.Extra))
		for k, v := range u.Extra {
			spec.Extra[k] = v
		}
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	sar, err := a.cfg.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx,
		&authzv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("%w: SubjectAccessReview: %v", ErrUnavailable, err)
	}
	ok := sar.Status.Allowed && !sar.Status.Denied
	ttl := a.cfg.DenyTTL
	if ok {
		ttl = a.cfg.AllowTTL
	}
	a.access.put(key, ok, ttl, a.cfg.Now())
	return ok, nil
}

// accessKey identifies a user and namespace in the access cache.
func accessKey(u *User, namespace string) string {
	var b strings.Builder
	for _, s := range []string{namespace, u.Name, u.UID} {
		fmt.Fprintf(&b, "%d:%s", len(s), s)
	}
	groups := append([]string(nil), u.Groups...)
	sort.Strings(groups)
	fmt.Fprintf(&b, "g%d", len(groups))
	for _, g := range groups {
		fmt.Fprintf(&b, "%d:%s", len(g), g)
	}
	keys := make([]string, 0, len(u.Extra))
	for k := range u.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "e%d:%s%d", len(k), k, len(u.Extra[k]))
		for _, v := range u.Extra[k] {
			fmt.Fprintf(&b, "%d:%s", len(v), v)
		}
	}
	return b.String()
}
