package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// pacedRates are the getppid rates of the exporter CPU measurement; 0 is
// the idle reference (scrapes and dumps only).
var pacedRates = []int{0, 10_000, 100_000, 1_000_000}

// cpuSample is the exporter's CPU while a paced workload ran.
type cpuSample struct {
	achieved  float64 // syscalls per second the workload reached
	msPerSec  float64 // exporter utime+stime, ms per second of workload
	scrapes   int     // /metrics and /dump requests served during the run
	scrapeErr error
}

// measureExporterCPU runs the paced getppid workload at every rate in a
// tracked container while scraping /metrics and dumping the container's
// ring once per second, and records the exporter's CPU time.
func (b *bench) measureExporterCPU(ctx context.Context, s *session, where string) error {
	for _, rate := range pacedRates {
		var smp cpuSample
		_, err := b.cleanRun(ctx, s, fmt.Sprintf("%s, paced %d/s", where, rate), runTries, func() (err error) {
			smp, err = b.runPaced(ctx, s, rate)
			return err
		})
		if err != nil {
			return err
		}
		b.res.cpu[rate] = append(b.res.cpu[rate], smp)
		b.logf("  paced %8d/s: achieved %9.0f/s, exporter CPU %.1f ms/s (%d scrapes+dumps)", rate, smp.achieved, smp.msPerSec, smp.scrapes)
	}
	return nil
}

// runPaced runs the paced workload at one rate and measures the exporter.
func (b *bench) runPaced(ctx context.Context, s *session, rate int) (cpuSample, error) {
	var smp cpuSample
	cg := b.cg.container("paced")
	argv := []string{b.workload, "paced", "-rate", strconv.Itoa(rate), "-d", b.cfg.sizes.pacedFor.String()}
	cpu0, err := s.exp.cpuTime()
	if err != nil {
		return smp, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		smp.scrapes, smp.scrapeErr = scrapeEverySecond(s.exp, cg, stop)
	}()
	out, err := b.runIn(ctx, cg, argv, b.cfg.sizes.pacedFor+time.Minute)
	close(stop)
	wg.Wait()
	if err != nil {
		return smp, err
	}
	cpu1, err := s.exp.cpuTime()
	if err != nil {
		return smp, err
	}
	if smp.scrapeErr != nil {
		return smp, fmt.Errorf("scraping during the paced run: %w", smp.scrapeErr)
	}
	r, err := parseWorkload(out)
	if err != nil {
		return smp, err
	}
	secs := float64(r.elapsedNs) / 1e9
	smp.achieved = float64(r.syscalls) / secs
	smp.msPerSec = float64((cpu1 - cpu0).Milliseconds()) / secs
	return smp, nil
}

// scrapeEverySecond GETs /metrics and /dump?cgroup=cg now and then once a
// second until stop is closed, and counts the requests.
func scrapeEverySecond(e *exporterProc, cg string, stop <-chan struct{}) (int, error) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	n := 0
	dump := "/dump?cgroup=" + url.QueryEscape(cg)
	for {
		for _, p := range []string{"/metrics", dump} {
			_, err := e.get(p)
			var se *statusError
			// Until the workload's first syscall its container has no ring.
			if err != nil && !(p == dump && errors.As(err, &se) && se.code == http.StatusNotFound) {
				return n, err
			}
			n++
		}
		select {
		case <-stop:
			return n, nil
		case <-t.C:
		}
	}
}
