package kubetest

import (
	"fmt"
	"io"
	"net/http"
	"slices"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// Identity is who a bearer token authenticates as.
type Identity struct {
	User   string
	UID    string
	Groups []string
}

// Rule lets a subject (a user name, or a group one of its groups) do Verb on
// Group/Resource/Subresource in Namespace; an empty Namespace is a
// cluster-wide grant, which covers every namespace and cluster-wide
// requests. It answers SubjectAccessReviews only: the fake server does not
// enforce RBAC on its own API.
type Rule struct {
	Subject     string
	Namespace   string
	Verb        string
	Group       string
	Resource    string
	Subresource string
}

// Review is one TokenReview or SubjectAccessReview the server answered.
type Review struct {
	Kind      string // "TokenReview" or "SubjectAccessReview"
	User      string // the user reviewed; for a TokenReview, "" unless authenticated
	Namespace string // SubjectAccessReview: the namespace asked about
	Allowed   bool   // authenticated, or allowed
}

// AddToken makes token authenticate as id in TokenReviews.
func (s *Server) AddToken(token string, id Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		s.tokens = map[string]Identity{}
	}
	s.tokens[token] = id
}

// Allow adds a rule for SubjectAccessReviews.
func (s *Server) Allow(r Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, r)
}

// Reviews returns the reviews answered so far, in order.
func (s *Server) Reviews() []Review {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reviews)
}

// decodeBody decodes a request body in any encoding client-go sends
// (JSON, protobuf, CBOR).
func decodeBody(w http.ResponseWriter, r *http.Request, v runtime.Object) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		_, _, err = scheme.Codecs.UniversalDeserializer().Decode(b, nil, v)
	}
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf("decode body: %v", err))
		return false
	}
	return true
}

func (s *Server) serveTokenReview(w http.ResponseWriter, r *http.Request) {
	var tr authnv1.TokenReview
	if !decodeBody(w, r, &tr) {
		return
	}
	s.mu.Lock()
	id, ok := s.tokens[tr.Spec.Token]
	rev := Review{Kind: "TokenReview", Allowed: ok && tr.Spec.Token != ""}
	if rev.Allowed {
		rev.User = id.User
	}
	s.reviews = append(s.reviews, rev)
	s.mu.Unlock()
	tr.TypeMeta = metav1.TypeMeta{Kind: "TokenReview", APIVersion: "authentication.k8s.io/v1"}
	tr.Spec.Token = ""
	if rev.Allowed {
		tr.Status = authnv1.TokenReviewStatus{Authenticated: true,
			User: authnv1.UserInfo{Username: id.User, UID: id.UID, Groups: append(slices.Clone(id.Groups), "system:authenticated")}}
	} else {
		tr.Status = authnv1.TokenReviewStatus{Error: "invalid bearer token"}
	}
	writeJSON(w, http.StatusCreated, &tr)
}

func (s *Server) serveSubjectAccessReview(w http.ResponseWriter, r *http.Request) {
	var sar authzv1.SubjectAccessReview
	if !decodeBody(w, r, &sar) {
		return
	}
	ra := sar.Spec.ResourceAttributes
	if ra == nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "kubetest answers resourceAttributes only")
		return
	}
	subjects := append([]string{sar.Spec.User}, sar.Spec.Groups...)
	s.mu.Lock()
	allowed := false
	for _, rule := range s.rules {
		if slices.Contains(subjects, rule.Subject) && (rule.Namespace == "" || rule.Namespace == ra.Namespace) &&
			rule.Verb == ra.Verb && rule.Group == ra.Group && rule.Resource == ra.Resource && rule.Subresource == ra.Subresource {
			allowed = true
			break
		}
	}
	s.reviews = append(s.reviews, Review{Kind: "SubjectAccessReview", User: sar.Spec.User,
		Namespace: ra.Namespace, Allowed: allowed})
	s.mu.Unlock()
	sar.TypeMeta = metav1.TypeMeta{Kind: "SubjectAccessReview", APIVersion: "authorization.k8s.io/v1"}
	sar.Status = authzv1.SubjectAccessReviewStatus{Allowed: allowed}
	if !allowed {
		sar.Status.Reason = "no kubetest rule allows it"
	}
	writeJSON(w, http.StatusCreated, &sar)
}
