package dump

import (
	"fmt"
	"strings"
)

// NamespaceFilter says which Kubernetes namespaces may be dumped. A nil
// filter allows all.
type NamespaceFilter struct {
	allow, deny map[string]bool
}

// NewNamespaceFilter parses comma-separated allow and deny lists. With an
// allow list, only those namespaces can be dumped (not even plain-host
// cgroups, which have no namespace); the deny list wins over it.
func NewNamespaceFilter(allow, deny string) (*NamespaceFilter, error) {
	f := &NamespaceFilter{}
	var err error
	if f.allow, err = nameSet(allow); err != nil {
		return nil, fmt.Errorf("--dump.namespaces: %w", err)
	}
	if f.deny, err = nameSet(deny); err != nil {
		return nil, fmt.Errorf("--dump.exclude-namespaces: %w", err)
	}
	if f.allow == nil && f.deny == nil {
		return nil, nil
	}
	return f, nil
}

func nameSet(list string) (map[string]bool, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	set := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if !validName(n) {
			return nil, fmt.Errorf("%q is not a namespace name", n)
		}
		set[n] = true
	}
	return set, nil
}

// Allows reports whether namespace may be dumped.
func (f *NamespaceFilter) Allows(namespace string) bool {
	if f == nil {
		return true
	}
	if f.deny[namespace] {
		return false
	}
	return f.allow == nil || f.allow[namespace]
}
