// SPDX-License-Identifier: Apache-2.0

// server.go — the HTTP side of the simulated kubelets: bearer-token auth, request routing,
// the per-node render cache, the request counters and the response faults.
//
// All node servers share one handler implementation; a node's mutable state (fault,
// restarts, UID overrides) lives in an immutable nodeState swapped atomically, so requests
// never take a lock on the hot path.
package main

import (
	"crypto/subtle"
	"crypto/tls"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	pathSummary = "/stats/summary"
	pathMetrics = "/metrics/resource"
	pathHealthz = "/healthz"
	pathPods    = "/pods"
)

type restartRec struct {
	at   int64 // new startTime (unix seconds)
	effT int64 // first sample time that shows it
}

// nodeState is a node's mutable state. Never modified once published: writers copy it.
type nodeState struct {
	gen      uint64
	fault    *fault
	restarts map[cref][]restartRec
	uids     map[int]string
	changed  chan struct{} // closed when this state is superseded
}

func (st *nodeState) clone() *nodeState {
	n := &nodeState{gen: st.gen + 1, fault: st.fault, changed: make(chan struct{}),
		restarts: make(map[cref][]restartRec, len(st.restarts)), uids: make(map[int]string, len(st.uids))}
	for k, v := range st.restarts {
		n.restarts[k] = v
	}
	for k, v := range st.uids {
		n.uids[k] = v
	}
	return n
}

type cacheSlot struct {
	T    int64
	gen  uint64
	body []byte
}

const (
	cacheSummary = iota
	cacheSummaryCPUMem
	cacheMetrics
	cachePods
	cacheSlots
)

type nodeCounters struct {
	requests, summary, metrics, pods, healthz, unauthorized, notFound atomic.Int64
	faulted, bytes, renders, cacheHits, conns                         atomic.Int64
}

func (c *nodeCounters) reset() {
	for _, v := range []*atomic.Int64{&c.requests, &c.summary, &c.metrics, &c.pods, &c.healthz,
		&c.unauthorized, &c.notFound, &c.faulted, &c.bytes, &c.renders, &c.cacheHits, &c.conns} {
		v.Store(0)
	}
}

// nodeRuntime is everything about a node that changes while the simulator runs.
type nodeRuntime struct {
	mu    sync.Mutex // serialises state writers and listener changes
	state atomic.Pointer[nodeState]

	cert, wrongCert, expiredCert *tls.Certificate

	srv      *http.Server
	ln       net.Listener // nil while refused
	connMu   sync.Mutex
	conns    map[net.Conn]struct{}
	held     []net.Conn // connections parked by hang stage=accept
	cacheMu  sync.Mutex
	cache    [cacheSlots]cacheSlot
	counters nodeCounters
}

type sim struct {
	cfg      simConfig
	nodes    []*node
	byName   map[string]*node
	now      func() time.Time
	token    atomic.Pointer[string] // nil: no authentication
	certs    *lazyCerts
	plain    bool // serve HTTP instead of HTTPS
	http2    bool
	useCache bool
	cacheMax int64        // byte budget of all cached bodies
	cacheUse atomic.Int64 // bytes cached now
	// /pods bodies have a budget of their own (cacheMax again): without restarts they stay
	// valid across samples, and Summaries must not crowd them out.
	podsCacheUse atomic.Int64
	ctLength     bool // declare Content-Length on normal responses
	verbose      bool
	samples      sync.Pool
	bufs         sync.Pool
}

func newSim(cfg simConfig) (*sim, error) {
	ips, ports, err := nodeAddrs(&cfg)
	if err != nil {
		return nil, err
	}
	s := &sim{cfg: cfg, now: time.Now, byName: make(map[string]*node, cfg.nodes),
		useCache: true, cacheMax: 64 << 20}
	s.nodes = make([]*node, cfg.nodes)
	for i := range s.nodes {
		nd := newNode(&cfg, i, ips[i], ports[i])
		nd.rt.state.Store(&nodeState{changed: make(chan struct{}),
			restarts: map[cref][]restartRec{}, uids: map[int]string{}})
		nd.rt.conns = map[net.Conn]struct{}{}
		s.nodes[i] = nd
		s.byName[nd.name] = nd
	}
	s.samples.New = func() any { return &nSample{} }
	s.bufs.New = func() any { return &renderBuf{} }
	return s, nil
}

// sampleTime is the sample time a request to nd sees now, given its state.
func (s *sim) sampleTime(st *nodeState, now time.Time) int64 {
	t := now.Unix()
	if st.fault != nil && st.fault.kind == faultSkew {
		t += st.fault.offset
	}
	I := s.cfg.interval
	T := t - ((t%I)+I)%I
	if st.fault != nil && st.fault.kind == faultStale && T > st.fault.at {
		T = st.fault.at
	}
	return T
}

// update applies fn to a copy of nd's state and publishes it, waking anything waiting on
// the old one.
func (s *sim) update(nd *node, fn func(st *nodeState)) *nodeState {
	nd.rt.mu.Lock()
	defer nd.rt.mu.Unlock()
	old := nd.rt.state.Load()
	st := old.clone()
	fn(st)
	nd.rt.state.Store(st)
	close(old.changed)
	return st
}

// ---- rendering ---------------------------------------------------------------------------

func (s *sim) computeSample(nd *node, st *nodeState, T int64, cpuMemOnly bool) *nSample {
	smp := s.samples.Get().(*nSample)
	newSampleCtx(&s.cfg, nd, st, T).compute(smp)
	smp.onlyCPUAndMemory = cpuMemOnly
	return smp
}

// renderBuf is a pooled pair of writers; the bytes stay valid until it goes back to the pool.
type renderBuf struct {
	j jw
	p pw
}

// renderInto renders nd at T into rb and returns the body (aliasing rb) and, for summaries,
// where the pods array sits in it.
func (s *sim) renderInto(rb *renderBuf, nd *node, st *nodeState, T int64, slot int,
	mode renderMode) ([]byte, summaryOffsets) {
	nd.rt.counters.renders.Add(1)
	if slot == cachePods {
		b, err := s.renderPods(rb.j.b[:0], nd, st, T)
		if err != nil { // only unencodable values; the world has none
			log.Printf("node=%s rendering /pods: %v", nd.name, err)
		}
		rb.j.b = b
		return b, summaryOffsets{}
	}
	smp := s.computeSample(nd, st, T, slot == cacheSummaryCPUMem)
	defer s.samples.Put(smp)
	if slot == cacheMetrics {
		rb.p.b, rb.p.mode, rb.p.n = rb.p.b[:0], mode, 0
		renderMetrics(&rb.p, &s.cfg, smp)
		return rb.p.b, summaryOffsets{}
	}
	rb.j.reset(s.cfg.indent, mode)
	off := renderSummary(&rb.j, &s.cfg, smp)
	return rb.j.b, off
}

// render returns a freshly allocated body the caller owns (fault paths, benchmarks).
func (s *sim) render(nd *node, st *nodeState, T int64, slot int, mode renderMode) ([]byte, summaryOffsets) {
	rb := s.bufs.Get().(*renderBuf)
	defer s.bufs.Put(rb)
	b, off := s.renderInto(rb, nd, st, T, slot, mode)
	return append([]byte(nil), b...), off
}

// body returns the normal body for a data path, from the cache when it is still current,
// and a function to call once the body has been written.
func (s *sim) body(nd *node, st *nodeState, T int64, slot int) ([]byte, func()) {
	rt := &nd.rt
	if s.useCache {
		rt.cacheMu.Lock()
		c := rt.cache[slot]
		rt.cacheMu.Unlock()
		if c.body != nil && c.T == T && c.gen == st.gen {
			rt.counters.cacheHits.Add(1)
			return c.body, func() {}
		}
	}
	rb := s.bufs.Get().(*renderBuf)
	b, _ := s.renderInto(rb, nd, st, T, slot, modeNormal)
	if s.useCache {
		use := s.cacheUseOf(slot)
		rt.cacheMu.Lock()
		old := rt.cache[slot]
		// Keep the newest sample, within the budget. A full 5,000-node round of indented
		// summaries is ~600 MB while rendering again costs ~0.1 ms per node, so past the
		// budget we simply do not cache.
		if old.T <= T && use.Load()-int64(len(old.body))+int64(len(b)) <= s.cacheMax {
			cp := append([]byte(nil), b...)
			use.Add(int64(len(cp)) - int64(len(old.body)))
			rt.cache[slot] = cacheSlot{T: T, gen: st.gen, body: cp}
			rt.cacheMu.Unlock()
			s.bufs.Put(rb)
			return cp, func() {}
		}
		rt.cacheMu.Unlock()
	}
	return b, func() { s.bufs.Put(rb) }
}

func (s *sim) cacheUseOf(slot int) *atomic.Int64 {
	if slot == cachePods {
		return &s.podsCacheUse
	}
	return &s.cacheUse
}

// podsKeyTime is the sample time a /pods body is cached under: 0 while the node has no
// restarts, since the list then does not change with time (only restarts take effect at a
// sample time; a UID report changes the state's generation).
func podsKeyTime(st *nodeState, T int64) int64 {
	if len(st.restarts) == 0 {
		return 0
	}
	return T
}

// dropStaleCaches frees cached bodies older than the previous sample, so nodes nobody
// scrapes hold no memory (but for /pods bodies valid at any time, within their budget).
// Run periodically.
func (s *sim) dropStaleCaches() {
	T := s.now().Unix() - 2*s.cfg.interval
	for _, nd := range s.nodes {
		nd.rt.cacheMu.Lock()
		for i := range nd.rt.cache {
			if i == cachePods && nd.rt.cache[i].T == 0 {
				continue
			}
			if nd.rt.cache[i].body != nil && nd.rt.cache[i].T < T {
				s.cacheUseOf(i).Add(-int64(len(nd.rt.cache[i].body)))
				nd.rt.cache[i] = cacheSlot{}
			}
		}
		nd.rt.cacheMu.Unlock()
	}
}

// ---- HTTP --------------------------------------------------------------------------------

// countingWriter counts body bytes for the per-node statistics.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (s *sim) handler(nd *node) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w}
		defer func() { nd.rt.counters.bytes.Add(cw.n) }()
		s.serve(nd, cw, r)
	})
}

func (s *sim) authorized(r *http.Request) bool {
	tok := s.token.Load()
	if tok == nil {
		return true
	}
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return false
	}
	cred = strings.TrimSpace(cred)
	return len(cred) > 0 && subtle.ConstantTimeCompare([]byte(cred), []byte(*tok)) == 1
}

func (s *sim) serve(nd *node, w http.ResponseWriter, r *http.Request) {
	c := &nd.rt.counters
	c.requests.Add(1)
	if s.verbose {
		log.Printf("node=%s method=%s path=%s remote=%s proto=%s", nd.name, r.Method,
			r.URL.Path, r.RemoteAddr, r.Proto)
	}
	path := r.URL.Path
	switch path {
	case pathHealthz:
		c.healthz.Add(1)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
		return
	case pathSummary, pathMetrics, pathPods:
	default:
		c.notFound.Add(1)
		http.NotFound(w, r)
		return
	}
	if !s.authorized(r) {
		c.unauthorized.Add(1)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("Unauthorized"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		http.Error(w, "405: Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if path == pathPods {
		// Response faults cover the stats endpoints only; transport faults hit /pods too.
		c.pods.Add(1)
		st := nd.rt.state.Load()
		b, done := s.body(nd, st, podsKeyTime(st, s.sampleTime(st, s.now())), cachePods)
		s.writeBody(w, "application/json", b)
		done()
		return
	}
	slot, ctype := cacheMetrics, "text/plain; version=0.0.4; charset=utf-8"
	if path == pathSummary {
		c.summary.Add(1)
		slot, ctype = cacheSummary, "application/json"
		if r.URL.Query().Get("only_cpu_and_memory") == "true" {
			slot = cacheSummaryCPUMem
		}
	} else {
		c.metrics.Add(1)
	}
	for {
		st := nd.rt.state.Load()
		f := st.fault
		if f == nil || !f.isResponse() || !f.appliesTo(path) || !f.take() {
			b, done := s.body(nd, st, s.sampleTime(st, s.now()), slot)
			s.writeBody(w, ctype, b)
			done()
			return
		}
		c.faulted.Add(1)
		if f.kind != faultHang {
			s.serveFault(nd, st, f, w, r, slot, ctype)
			return
		}
		// hang: hold the request until the client leaves or the fault changes, then
		// answer according to whatever state is current.
		select {
		case <-r.Context().Done():
			return
		case <-st.changed:
		}
	}
}

func (s *sim) writeBody(w http.ResponseWriter, ctype string, b []byte) {
	w.Header().Set("Content-Type", ctype)
	if s.ctLength {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	}
	_, _ = w.Write(b)
}

func (s *sim) serveFault(nd *node, st *nodeState, f *fault, w http.ResponseWriter, r *http.Request,
	slot int, ctype string) {
	T := s.sampleTime(st, s.now())
	metrics := slot == cacheMetrics
	// Normal body, owned by this request (faults may stream it for a long time).
	normal := func() []byte {
		b, _ := s.render(nd, st, T, slot, modeNormal)
		return b
	}
	switch f.kind {
	case faultStatus500:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(f.code)
		_, _ = w.Write([]byte("Internal Error: kubeletsim fault status500\n"))
	case faultSlow:
		serveSlow(w, r, ctype, normal(), f)
	case faultTruncated:
		serveTruncated(w, ctype, normal(), f)
	case faultMalformed:
		ct, out := malformedBody(normal(), f)
		if metrics && f.variant == "mid" {
			ct = ctype
		}
		s.writeBody(w, ct, out)
	case faultDeep:
		if metrics {
			s.writeBody(w, ctype, deepMetrics(f))
		} else {
			s.writeBody(w, ctype, deepBody(nd.name, f))
		}
	case faultBadUTF8, faultWrongTypes, faultNaN, faultPartial:
		mode := map[faultKind]renderMode{faultBadUTF8: modeBadUTF8, faultWrongTypes: modeWrongTypes,
			faultNaN: modeNaN, faultPartial: modePartial}[f.kind]
		b, _ := s.render(nd, st, T, slot, mode)
		s.writeBody(w, ctype, b)
	case faultHuge, faultEndless:
		limit := f.size
		if f.kind == faultEndless {
			limit = -1
		}
		w.Header().Set("Content-Type", ctype)
		head, unit, sep, tail := s.repeatParts(nd, st, T, slot, f)
		streamRepeated(w, r, head, unit, sep, tail, limit, f.length && f.kind == faultHuge)
	}
}

// repeatParts splits a body for the huge/endless faults into head, repeated unit, separator
// and tail such that head+unit(+sep+unit)*+tail is well-formed.
func (s *sim) repeatParts(nd *node, st *nodeState, T int64, slot int, f *fault) (head, unit, sep, tail []byte) {
	if slot == cacheMetrics {
		body, _ := s.render(nd, st, T, slot, modeNormal)
		// Repeat the container samples: duplicate series, each line still valid.
		i := strings.Index(string(body), "\n# HELP container_memory_working_set_bytes")
		j := strings.Index(string(body), "\ncontainer_cpu_usage_seconds_total")
		if i < 0 || j < 0 || f.fill != "pods" {
			return body, []byte("# padding\n"), nil, nil
		}
		return body[:j+1], body[j+1 : i+1], nil, body[i+1:]
	}
	body, off := s.render(nd, st, T, slot, modeNormal)
	switch {
	case f.fill == "string":
		i := strings.Index(string(body), `"nodeName"`)
		i += strings.IndexByte(string(body[i+len(`"nodeName"`):]), '"') + len(`"nodeName"`) + 1
		return body[:i], []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), nil, body[i:]
	case f.fill == "space" || off.podsEnd <= off.podsStart:
		return body[:off.podsStart], []byte("                                                                "), nil, body[off.podsStart:]
	}
	return body[:off.podsStart], body[off.podsStart:off.podsEnd], []byte{','}, body[off.podsEnd:]
}
