package containers

// Chain asks each directory in turn: the first that knows a container or
// pod names it. The node's runtime (CRI) goes before the API server: it
// knows a container from its creation on.
type Chain []Directory

// Container implements Directory.
func (c Chain) Container(id string) (Labels, bool) {
	for _, d := range c {
		if l, ok := d.Container(id); ok {
			return l, true
		}
	}
	return Labels{}, false
}

// Pod implements Directory.
func (c Chain) Pod(uid string) (string, string, bool) {
	for _, d := range c {
		if ns, name, ok := d.Pod(uid); ok {
			return ns, name, true
		}
	}
	return "", "", false
}

// Containers implements Directory: those of every directory, once.
func (c Chain) Containers() []Labels {
	seen := map[Labels]bool{}
	var out []Labels
	for _, d := range c {
		for _, l := range d.Containers() {
			if !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
	}
	return out
}

// Restarts implements Directory.
func (c Chain) Restarts(id string) (int, bool) {
	for _, d := range c {
		if n, ok := d.Restarts(id); ok {
			return n, true
		}
	}
	return 0, false
}
