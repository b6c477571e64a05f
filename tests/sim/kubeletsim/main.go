// SPDX-License-Identifier: Apache-2.0

// kubeletsim — many simulated kubelets in one process, for kubepulse's tests and benchmarks.
//
// Each simulated node serves, over HTTPS with its own certificate and bearer-token auth, the
// kubelet endpoints a metrics collector scrapes: GET /stats/summary (Summary API v1alpha1),
// GET /metrics/resource (what metrics-server reads) and GET /healthz. Values follow exact,
// documented formulas (model.go); a plain-HTTP control endpoint switches faults on and off,
// restarts containers, and reports the manifest, the expected values and request counts.
//
// main.go owns the flags and the wiring; see README.md next to this directory for usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	cfg          simConfig
	addrBase     string
	interval     time.Duration
	jitter       time.Duration
	epoch        string
	caCert       string
	caKey        string
	tokenFile    string
	control      string
	manifest     string
	plain        bool
	http2        bool
	cache        bool
	cacheMB      int64
	ctLength     bool
	verbose      bool
	benchRenders int
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("kubeletsim", flag.ContinueOnError)
	fs.IntVar(&o.cfg.nodes, "nodes", 3, "number of simulated nodes")
	fs.IntVar(&o.cfg.pods, "pods", 5, "pods per node")
	fs.IntVar(&o.cfg.containers, "containers", 2, "containers per pod (1-3); 0 varies them 1..3 per pod")
	fs.IntVar(&o.cfg.namespaces, "namespaces", 5, "number of namespaces ns-0..ns-N-1")
	fs.StringVar(&o.cfg.nodePrefix, "node-prefix", "node-", "node name prefix (names are PREFIX%04d)")
	fs.StringVar(&o.addrBase, "addr-base", "127.1.0.1", "first node's loopback address (listen-mode addr)")
	fs.IntVar(&o.cfg.port, "port", 10250, "kubelet port (listen-mode ports: the first node's port)")
	fs.StringVar(&o.cfg.listenMode, "listen-mode", "addr", "addr: one loopback address per node; ports: 127.0.0.1 with port+i")
	fs.DurationVar(&o.interval, "sample-interval", 10*time.Second, "sample granularity (whole seconds)")
	fs.DurationVar(&o.jitter, "jitter", 0, "spread per-entity sample times over [0, jitter) (< sample-interval)")
	fs.StringVar(&o.epoch, "epoch", "", "unix seconds or RFC3339 start times are counted back from (default: start time floored to the interval)")
	fs.Uint64Var(&o.cfg.cpuBase, "cpu-base", 5, "container cpu rate: cpu-base + (mix*37) % cpu-spread millicores")
	fs.Uint64Var(&o.cfg.cpuSpread, "cpu-spread", 100, "see -cpu-base (>= 1)")
	fs.Uint64Var(&o.cfg.netBase, "net-base", 1000, "pod network rx rate: net-base + (mix*7) % net-spread bytes/s (tx is half)")
	fs.Uint64Var(&o.cfg.netSpread, "net-spread", 9000, "see -net-base (>= 1)")
	fs.BoolVar(&o.cfg.hostile, "hostile-labels", false, "give pod 0 of each node labels with every character Kubernetes allows")
	fs.BoolVar(&o.cfg.hostileNm, "hostile-names", false, "make the last pod of each node a summary-only pod with hostile names (space, comma, =, quotes, backslash, tab, non-ASCII)")
	fs.BoolVar(&o.cfg.swap, "swap", true, "emit swap stats like kubelets >= 1.30")
	fs.BoolVar(&o.cfg.psi, "psi", false, "emit PSI stats like kubelets >= 1.34 with KubeletPSI")
	fs.BoolVar(&o.cfg.indent, "indent", true, "pretty-print JSON like the kubelet (go-restful, one-space indent)")
	fs.StringVar(&o.caCert, "ca-cert", "", "PEM CA certificate that signs the nodes' serving certificates")
	fs.StringVar(&o.caKey, "ca-key", "", "PEM private key of -ca-cert (RSA or EC; PKCS#1, SEC 1 or PKCS#8)")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the bearer token (re-read when it changes); empty: no authentication")
	fs.StringVar(&o.control, "control", "127.0.0.1:0", "control endpoint address (loopback only)")
	fs.StringVar(&o.manifest, "manifest", "", "write the manifest JSON to this file at startup")
	fs.BoolVar(&o.plain, "plain-http", false, "serve plain HTTP (like the kubelet read-only port) instead of HTTPS")
	fs.BoolVar(&o.http2, "http2", true, "offer HTTP/2 through ALPN, like the kubelet")
	fs.BoolVar(&o.cache, "cache", true, "cache each node's rendered bodies for the current sample")
	fs.Int64Var(&o.cacheMB, "cache-mb", 64, "memory budget of the body cache in MB (bodies beyond it are rendered per request)")
	fs.BoolVar(&o.ctLength, "content-length", false, "declare Content-Length (the kubelet streams bodies > 4 KiB chunked)")
	fs.BoolVar(&o.verbose, "v", false, "log every request")
	fs.IntVar(&o.benchRenders, "bench", 0, "render every node's summary and metrics N times, print the cost, exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c := &o.cfg
	switch {
	case c.nodes < 1 || c.nodes > 100000:
		return nil, fmt.Errorf("-nodes %d: want 1..100000", c.nodes)
	case c.pods < 0 || c.pods > 1000:
		return nil, fmt.Errorf("-pods %d: want 0..1000", c.pods)
	case c.containers < 0 || c.containers > 3:
		return nil, fmt.Errorf("-containers %d: want 0..3", c.containers)
	case c.namespaces < 1:
		return nil, fmt.Errorf("-namespaces %d: want >= 1", c.namespaces)
	case c.listenMode != "addr" && c.listenMode != "ports":
		return nil, fmt.Errorf("-listen-mode %q: want addr or ports", c.listenMode)
	case o.interval < time.Second || o.interval%time.Second != 0:
		return nil, fmt.Errorf("-sample-interval %v: want whole seconds >= 1s", o.interval)
	case o.jitter < 0 || o.jitter >= o.interval || o.jitter%time.Second != 0:
		return nil, fmt.Errorf("-jitter %v: want whole seconds in [0, sample-interval)", o.jitter)
	case c.cpuSpread < 1 || c.netSpread < 1:
		return nil, fmt.Errorf("-cpu-spread and -net-spread must be >= 1")
	case c.port < 1 || c.port > 65535:
		return nil, fmt.Errorf("-port %d: want 1..65535", c.port)
	case !o.plain && o.benchRenders == 0 && (o.caCert == "" || o.caKey == ""):
		return nil, fmt.Errorf("-ca-cert and -ca-key are required (or -plain-http)")
	}
	c.interval = int64(o.interval / time.Second)
	c.jitter = int64(o.jitter / time.Second)
	base, err := netip.ParseAddr(o.addrBase)
	if err != nil {
		return nil, fmt.Errorf("-addr-base: %w", err)
	}
	c.addrBase = base
	now := time.Now().Unix()
	c.epoch = now - now%c.interval
	if o.epoch != "" {
		t, err := parseTimeArg(o.epoch)
		if err != nil {
			return nil, fmt.Errorf("-epoch %q: want unix seconds or RFC3339", o.epoch)
		}
		c.epoch = t.Unix()
	}
	return o, nil
}

// watchToken loads the token file now and again whenever its size or mtime changes.
func watchToken(ctx context.Context, s *sim, path string) error {
	var lastMod time.Time
	var lastSize int64 = -1
	load := func() error {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		if fi.ModTime().Equal(lastMod) && fi.Size() == lastSize {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return fmt.Errorf("%s is empty", path)
		}
		if lastSize >= 0 {
			log.Printf("token file %s changed; new token in use", path)
		}
		lastMod, lastSize = fi.ModTime(), fi.Size()
		s.token.Store(&tok)
		return nil
	}
	if err := load(); err != nil {
		return fmt.Errorf("-token-file: %w", err)
	}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		lastErr := ""
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				err := load()
				if err != nil && err.Error() != lastErr { // once per distinct problem
					log.Printf("token file: %v (keeping the previous token)", err)
				}
				lastErr = ""
				if err != nil {
					lastErr = err.Error()
				}
			}
		}
	}()
	return nil
}

func run(args []string) error {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("kubeletsim: ")
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	t0 := time.Now()
	s, err := newSim(o.cfg)
	if err != nil {
		return err
	}
	s.plain, s.http2, s.useCache, s.ctLength, s.verbose = o.plain, o.http2, o.cache, o.ctLength, o.verbose
	s.cacheMax = o.cacheMB << 20
	log.Printf("built %d nodes x %d pods in %v", len(s.nodes), o.cfg.pods, time.Since(t0).Round(time.Millisecond))
	if o.benchRenders > 0 {
		return bench(s, o.benchRenders)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if !s.plain {
		ca, err := loadCA(o.caCert, o.caKey)
		if err != nil {
			return err
		}
		s.certs = &lazyCerts{ca: ca}
		t1 := time.Now()
		if err := issueAll(ca, s.nodes); err != nil {
			return err
		}
		log.Printf("issued %d serving certificates in %v", len(s.nodes), time.Since(t1).Round(time.Millisecond))
	}
	if o.tokenFile != "" {
		if err := watchToken(ctx, s, o.tokenFile); err != nil {
			return err
		}
	} else {
		log.Printf("no -token-file: requests are not authenticated")
	}
	if o.manifest != "" {
		f, err := os.Create(o.manifest)
		if err != nil {
			return fmt.Errorf("-manifest: %w", err)
		}
		err = s.writeManifest(f, 0, len(s.nodes))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	for _, nd := range s.nodes {
		if err := s.listen(nd); err != nil {
			s.shutdown()
			return err
		}
	}
	ctlAddr, ctlSrv, err := s.serveControl(o.control)
	if err != nil {
		s.shutdown()
		return err
	}
	go func() {
		t := time.NewTicker(time.Duration(s.cfg.interval) * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.dropStaleCaches()
			}
		}
	}()
	first, last := s.nodes[0], s.nodes[len(s.nodes)-1]
	log.Printf("serving %s..%s on %s..%s (%s) in %v", first.name, last.name, first.addrPort(),
		last.addrPort(), map[bool]string{true: "http", false: "https"}[s.plain],
		time.Since(t0).Round(time.Millisecond))
	fmt.Printf("kubeletsim ready nodes=%d control=%s\n", len(s.nodes), ctlAddr)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	got := <-sig
	log.Printf("%v: shutting down", got)
	cancel()
	_ = ctlSrv.Close()
	s.shutdown()
	return nil
}

// bench renders every node's /stats/summary and /metrics/resource n times without any
// network and prints the cost: the simulator's CPU budget per scrape round.
func bench(s *sim, n int) error {
	T := s.now().Unix()
	T -= T % s.cfg.interval
	var sumBytes, metBytes int64
	var sumDur, metDur time.Duration
	for i := 0; i < n; i++ {
		t := time.Now()
		for _, nd := range s.nodes {
			b, _ := s.render(nd, nd.rt.state.Load(), T+int64(i)*s.cfg.interval, cacheSummary, modeNormal)
			sumBytes += int64(len(b))
		}
		sumDur += time.Since(t)
		t = time.Now()
		for _, nd := range s.nodes {
			b, _ := s.render(nd, nd.rt.state.Load(), T+int64(i)*s.cfg.interval, cacheMetrics, modeNormal)
			metBytes += int64(len(b))
		}
		metDur += time.Since(t)
	}
	per := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(n)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("bench nodes=%d pods/node=%d rounds=%d heap-in-use=%.0fMB\n", len(s.nodes), s.cfg.pods, n,
		float64(ms.HeapInuse)/1e6)
	fmt.Printf("  /stats/summary:    %s per round, %.1f MB per round, %.1f KB per node\n",
		per(sumDur), float64(sumBytes)/float64(n)/1e6, float64(sumBytes)/float64(n)/float64(len(s.nodes))/1e3)
	fmt.Printf("  /metrics/resource: %s per round, %.1f MB per round, %.1f KB per node\n",
		per(metDur), float64(metBytes)/float64(n)/1e6, float64(metBytes)/float64(n)/float64(len(s.nodes))/1e3)
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "kubeletsim: %v\n", err)
		os.Exit(2)
	}
}
