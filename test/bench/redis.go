package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// redisWorkload runs redis-server in a tracked container and drives it
// with redis-benchmark from outside over loopback.
type redisWorkload struct {
	server, client string
	taskset        string // pins the client to another CPU than the server's; "" when not installed
}

func (r *redisWorkload) name() string         { return "redis" }
func (r *redisWorkload) unit() (string, bool) { return "requests/s", true }
func (r *redisWorkload) cpuUnit() string      { return "container CPU µs/request" }
func (r *redisWorkload) format(s realSample) string {
	return fmt.Sprintf("%.0f requests/s, %.2f µs CPU/request", s.value, s.cpu)
}

const redisClients = 50

func (r *redisWorkload) run(ctx context.Context, b *bench, s *session) (realSample, error) {
	port, err := freePort()
	if err != nil {
		return realSample{}, err
	}
	// A fresh container per run: a cgroup that was killed cannot be reused.
	b.runSeq++
	cg := b.cg.container(fmt.Sprintf("redis-%d", b.runSeq))
	server := []string{r.server, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", b.tmp, "--daemonize", "no", "--loglevel", "warning"}
	if cpu := workloadCPU(); cpu >= 0 {
		// The server's main thread on the micro workloads' CPU, the client
		// on another: they no longer trade places from run to run.
		server = append(server, "--server_cpulist", strconv.Itoa(cpu))
	}
	argv, _ := s.wrap(server)
	cmd, err := b.commandIn(cg, argv)
	if err != nil {
		return realSample{}, err
	}
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	err = cmd.Start()
	cmd.cgfd.Close()
	if err != nil {
		return realSample{}, fmt.Errorf("starting redis-server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = b.cg.kill(cg) // the server, and strace with it
		<-exited
		_ = b.cg.release(cg)
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	err = pollUntil(ctx, 30*time.Second, 10*time.Millisecond, func() (bool, error) {
		select {
		case err := <-exited:
			exited <- err
			return false, fmt.Errorf("redis-server exited (%v): %s", err, stderr.String())
		default:
		}
		return redisPing(addr) == nil, nil
	}, "redis-server to answer PING")
	if err != nil {
		return realSample{}, err
	}

	n := b.cfg.sizes.redisRequests
	if s.mode.id == modeStrace {
		n = max(n/b.cfg.sizes.redisStraceDivisor, 1000)
	}
	cpu0, err := b.cg.cpuUsec(cg)
	if err != nil {
		return realSample{}, err
	}
	client := []string{r.client, "-h", "127.0.0.1", "-p", strconv.Itoa(port),
		"-n", strconv.Itoa(n), "-c", strconv.Itoa(redisClients), "-d", "64", "-t", "set,get", "--csv"}
	if cpu := workloadCPU(); cpu > 0 && r.taskset != "" {
		client = append([]string{r.taskset, "-c", strconv.Itoa(cpu - 1)}, client...)
	}
	out, err := b.runIn(ctx, b.cg.outside(), client, 10*time.Minute)
	if err != nil {
		return realSample{}, err
	}
	cpu1, err := b.cg.cpuUsec(cg)
	if err != nil {
		return realSample{}, err
	}
	rps, err := parseRedisCSV(out)
	if err != nil {
		return realSample{}, err
	}
	return realSample{value: rps, cpu: float64(cpu1-cpu0) / float64(2*n)}, nil
}

// redisPing checks that a redis server answers PING.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// parseRedisCSV combines the SET and GET rates of redis-benchmark --csv
// into one: total requests over total time, 2 / (1/set + 1/get).
func parseRedisCSV(out string) (float64, error) {
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		return 0, fmt.Errorf("redis-benchmark output %q: %w", out, err)
	}
	var inv float64
	tests := 0
	for _, row := range rows {
		if len(row) < 2 || (row[0] != "SET" && row[0] != "GET") {
			continue
		}
		rps, err := strconv.ParseFloat(row[1], 64)
		if err != nil || rps <= 0 {
			return 0, fmt.Errorf("redis-benchmark %s rate %q: bad number", row[0], row[1])
		}
		inv += 1 / rps
		tests++
	}
	if tests != 2 {
		return 0, fmt.Errorf("redis-benchmark output has %d of the SET/GET results: %q", tests, out)
	}
	return 2 / inv, nil
}
