package dump

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/flightrec/flightrec_exporter/internal/authz"
)

// Who may read which dumps: the namespace filter and Kubernetes RBAC.

// caller is who asks for a dump: the user its bearer token names, when
// dumps follow Kubernetes RBAC (Handler.Authz).
type caller struct {
	ctx  context.Context
	user *authz.User
}

// allowed checks that the caller may read the dumps of namespace: the
// namespace filter first, then Kubernetes RBAC.
func (h *Handler) allowed(who caller, namespace string) error {
	what := "namespace " + namespace
	if namespace == "" {
		what = "containers outside Kubernetes namespaces"
	}
	if !h.Namespaces.Allows(namespace) {
		return &httpError{http.StatusForbidden, fmt.Sprintf("dumps of %s are not allowed on this exporter (--dump.namespaces / --dump.exclude-namespaces)", what)}
	}
	ok, err := h.permits(who, namespace)
	if err != nil {
		return err
	}
	if !ok {
		where := "in namespace " + namespace
		if namespace == "" {
			where = "in every namespace (cluster-wide)"
		}
		return &httpError{http.StatusForbidden, fmt.Sprintf(
			"user %q may not read dumps of %s: that needs the Kubernetes permission to %s %s (--dump.authz)",
			who.user.Name, what, h.Authz.Rule(), where)}
	}
	return nil
}

// permits asks Kubernetes RBAC whether the caller may read the dumps of
// namespace; without Authz, everyone may.
func (h *Handler) permits(who caller, namespace string) (bool, error) {
	if h.Authz == nil {
		return true, nil
	}
	ok, err := h.Authz.Allowed(who.ctx, who.user, namespace)
	if err != nil {
		h.Logger.Error("checking access to a dump", "user", who.user.Name, "namespace", namespace, "err", err)
		return false, &httpError{http.StatusServiceUnavailable, err.Error()}
	}
	return ok, nil
}

// authError answers a request whose bearer token could not be checked.
func (h *Handler) authError(w http.ResponseWriter, err error) {
	if errors.Is(err, authz.ErrUnavailable) {
		h.Logger.Error("checking a dump request's token", "err", err)
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="flightrec_exporter"`)
	http.Error(w, "unauthorized: "+err.Error()+
		" (dumps follow Kubernetes RBAC: use a token of someone who may "+h.Authz.Rule()+" in the pod's namespace)",
		http.StatusUnauthorized)
}
