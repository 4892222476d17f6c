package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func hexID(c byte) string { return strings.Repeat(string(c), 64) }

var (
	id1 = hexID('1')
	id2 = hexID('2')
	id3 = hexID('3')
	id4 = hexID('4')
	idI = hexID('e')
	idE = hexID('f')
)

// pod builds a pod of node1 whose containers have the given statuses.
func pod(ns, name, uid string, statuses ...corev1.ContainerStatus) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("00000000-0000-0000-0000-" + uid)},
		Spec:       corev1.PodSpec{NodeName: "node1"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.1.2.3"},
	}
	for _, st := range statuses {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: st.Name, Image: "img"})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, st)
	}
	return p
}

// run is the status of a container in its restarts-th restart; prev is the
// id of the run before, "" for none.
func run(name, id string, restarts int32, prev string) corev1.ContainerStatus {
	st := corev1.ContainerStatus{Name: name, RestartCount: restarts, Image: "img"}
	if id != "" {
		st.ContainerID = "containerd://" + id
		st.State.Running = &corev1.ContainerStateRunning{}
	} else {
		st.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	}
	if prev != "" {
		st.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ContainerID: "cri-o://" + prev, ExitCode: 1}
	}
	return st
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, id, uid string
	}{
		{"containerd://" + id1, id1, "containerd://" + id1},
		{"cri-o://" + strings.ToUpper(idE), idE, "cri-o://" + idE},
		{"docker://" + id2, id2, "docker://" + id2},
		{id3, id3, id3},
		{"", "", ""},
		{"0A1B2C3D_1111_2222_3333_444455556666", "0a1b2c3d_1111_2222_3333_444455556666", "0a1b2c3d-1111-2222-3333-444455556666"},
	}
	for _, tt := range tests {
		if got := NormalizeContainerID(tt.in); got != tt.id {
			t.Errorf("NormalizeContainerID(%q) = %q, want %q", tt.in, got, tt.id)
		}
		if got := NormalizePodUID(tt.in); got != tt.uid {
			t.Errorf("NormalizePodUID(%q) = %q, want %q", tt.in, got, tt.uid)
		}
	}
}

func TestContainerRefs(t *testing.T) {
	const uid = "00000000-0000-0000-0000-000000000001"
	ref := func(container, id string, restarts int32, init, prev bool) ContainerRef {
		return ContainerRef{Namespace: "ns", Pod: "p", PodUID: uid, Container: container, ContainerID: id,
			RestartCount: restarts, Init: init, Previous: prev}
	}
	withInit := pod("ns", "p", "000000000001", run("app", id1, 0, ""))
	withInit.Spec.InitContainers = []corev1.Container{{Name: "setup"}, {Name: "sidecar"}}
	withInit.Status.InitContainerStatuses = []corev1.ContainerStatus{run("setup", idI, 0, ""), run("sidecar", "", 0, "")}
	withInit.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug"}}}
	withInit.Status.EphemeralContainerStatuses = []corev1.ContainerStatus{run("debug", idE, 0, "")}

	noStatus := pod("ns", "p", "000000000001")
	noStatus.Spec.Containers = []corev1.Container{{Name: "app"}}

	tests := []struct {
		name string
		pod  *corev1.Pod
		want []ContainerRef
	}{
		{"running", pod("ns", "p", "000000000001", run("app", id1, 0, ""), run("side", id2, 0, "")),
			[]ContainerRef{ref("app", id1, 0, false, false), ref("side", id2, 0, false, false)}},
		{"restarted", pod("ns", "p", "000000000001", run("app", id2, 3, id1)),
			[]ContainerRef{ref("app", id2, 3, false, false), ref("app", id1, 2, false, true)}},
		{"crash loop back-off", pod("ns", "p", "000000000001", func() corev1.ContainerStatus {
			// Waiting to restart: the current id is the one that terminated.
			st := run("app", id1, 4, id1)
			st.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
			return st
		}()), []ContainerRef{ref("app", id1, 4, false, false)}},
		{"not started", noStatus, []ContainerRef{ref("app", "", 0, false, false)}},
		{"init and ephemeral", withInit, []ContainerRef{
			ref("app", id1, 0, false, false),
			ref("setup", idI, 0, true, false),
			ref("sidecar", "", 0, true, false),
			ref("debug", idE, 0, false, false),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := containerRefs(tt.pod); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("containerRefs:\n got %+v\nwant %+v", got, tt.want)
			}
			// The informer stores slimmed pods: they must give the same answers.
			slim, err := slimPod(tt.pod)
			if err != nil {
				t.Fatal(err)
			}
			if got := containerRefs(slim.(*corev1.Pod)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("containerRefs of slim pod:\n got %+v\nwant %+v", got, tt.want)
			}
			if got, want := podRef(slim.(*corev1.Pod)), podRef(tt.pod); !reflect.DeepEqual(got, want) {
				t.Errorf("podRef of slim pod:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestIsOutage(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("list: %w", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), true},
		{"timeout", context.DeadlineExceeded, true},
		{"unavailable", apierrors.NewServiceUnavailable("restarting"), true},
		{"internal", apierrors.NewInternalError(errors.New("etcd")), true},
		{"forbidden", apierrors.NewForbidden(gr, "", errors.New("rbac")), true},
		{"unauthorized", apierrors.NewUnauthorized("token"), true},
		{"expired", apierrors.NewResourceExpired("too old"), false},
		{"gone", apierrors.NewGone("gone"), false},
		{"throttled", apierrors.NewTooManyRequests("slow down", 1), false},
		{"no streaming list", apierrors.NewInvalid(schema.GroupKind{Kind: "ListOptions"}, "", nil), false},
		{"bad request", apierrors.NewBadRequest("sendInitialEvents"), false},
	}
	for _, tt := range tests {
		if got := isOutage(tt.err); got != tt.want {
			t.Errorf("%s: isOutage(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestClientGoLogger(t *testing.T) {
	tests := []struct {
		name  string
		level slog.Level
		log   func(*slog.Logger)
		want  string // "" = nothing logged
	}{
		{"info at debug", slog.LevelDebug, func(l *slog.Logger) { clientGoLogger(l).Info("listed") }, "level=DEBUG msg=listed"},
		{"error at debug", slog.LevelDebug, func(l *slog.Logger) { clientGoLogger(l).Error(errors.New("x"), "failed") }, "level=DEBUG msg=failed"},
		{"V(2) at debug", slog.LevelDebug, func(l *slog.Logger) { clientGoLogger(l).V(2).Info("cache populated") }, "msg=\"cache populated\""},
		{"V(4) dropped", slog.LevelDebug, func(l *slog.Logger) { clientGoLogger(l).V(4).Info("watch failed") }, ""},
		{"error at info", slog.LevelInfo, func(l *slog.Logger) { clientGoLogger(l).Error(errors.New("x"), "failed") }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level})))
			got := buf.String()
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("logged %q, want %q", got, tt.want)
			}
			if got != "" && !strings.Contains(got, "source=client-go") {
				t.Errorf("logged %q without source=client-go", got)
			}
		})
	}
}

// TestRetiredRuns follows a container through several restarts with a fake
// clientset: every run of it resolves until the pod is deleted.
func TestRetiredRuns(t *testing.T) {
	cs := fake.NewClientset()
	c := newClient(cs, Config{NodeName: "node1", Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		<-c.Done()
	}()
	c.Start(ctx)
	pods := cs.CoreV1().Pods("ns")

	p := pod("ns", "p", "000000000007", run("app", id1, 0, ""))
	if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first run resolves", func() bool { _, ok := c.Container(id1); return ok })
	for i, id := range []string{id2, id3, id4} {
		prev := []string{id1, id2, id3}[i]
		p.Status.ContainerStatuses[0] = run("app", id, int32(i+1), prev)
		if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "restart resolves", func() bool { _, ok := c.Container(id); return ok })
	}
	waitFor(t, "older runs remembered", func() bool { return c.retired.len() == 2 })

	tests := []struct {
		id       string
		restarts int32
		previous bool
	}{{id1, 0, true}, {id2, 1, true}, {id3, 2, true}, {id4, 3, false}}
	for _, tt := range tests {
		got, ok := c.Container(tt.id)
		want := ContainerRef{Namespace: "ns", Pod: "p", PodUID: string(p.UID), Container: "app", ContainerID: tt.id,
			RestartCount: tt.restarts, Previous: tt.previous}
		if !ok || got != want {
			t.Errorf("Container(%s…) = %+v, %v; want %+v", tt.id[:4], got, ok, want)
		}
	}

	if err := pods.Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deleted pod forgotten", func() bool {
		for _, id := range []string{id1, id2, id3, id4} {
			if _, ok := c.Container(id); ok {
				return false
			}
		}
		return c.retired.len() == 0
	})
}

func TestRetiredBound(t *testing.T) {
	r := newRetired()
	p := pod("ns", "p", "000000000009", run("app", hexID('a'), 0, ""))
	for i := 1; i <= maxRetiredPerPod+5; i++ {
		cur := p.DeepCopy()
		cur.Status.ContainerStatuses[0] = run("app", fmt.Sprintf("%064x", i), int32(i), "")
		r.update(p, cur)
		p = cur
	}
	if n := r.len(); n != maxRetiredPerPod {
		t.Errorf("%d runs remembered, want %d", n, maxRetiredPerPod)
	}
	if _, ok := r.lookup(hexID('a')); ok {
		t.Error("oldest run still remembered")
	}
	if _, ok := r.lookup(fmt.Sprintf("%064x", maxRetiredPerPod+4)); !ok {
		t.Error("newest retired run forgotten")
	}
	r.forget(string(p.UID))
	if n := r.len(); n != 0 {
		t.Errorf("%d runs remembered after forget", n)
	}
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
