// SPDX-License-Identifier: Apache-2.0

// control.go — the plain-HTTP control endpoint tests drive the simulator with (loopback
// only, no authentication):
//
//	GET    /healthz
//	POST   /fault?node=NAME|all&kind=KIND[&param=...]   install a fault (replaces any other)
//	DELETE /fault?node=NAME|all                          remove it
//	GET    /faults                                       active faults by node
//	POST   /restart?node=NAME&pod=NAME|INDEX&container=NAME|INDEX
//	GET    /stats[?node=NAME]     request counts and bytes per node;  DELETE /stats resets
//	GET    /manifest[?node=NAME | ?offset=N&limit=M]
//	GET    /expected?node=NAME[&time=UNIX|RFC3339][&format=json|prometheus]
//	       [&only_cpu_and_memory=true]   the sample a scrape at that time gets, via the
//	                                     slow typed path (X-Sample-Time header: its T)
//	GET    /sampletime[?node=NAME]       the node's current sample time
//	POST   /pod-uids      body {"namespace/name": "uid", ...}: report API-server UIDs
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
)

type control struct {
	s        *sim
	podIndex map[string]cref // "namespace/name" -> node index (as p) and pod index (as c)
	podIdxMu sync.Mutex
}

func (s *sim) controlHandler() http.Handler {
	c := &control{s: s}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("/fault", c.fault)
	mux.HandleFunc("/faults", c.faults)
	mux.HandleFunc("/restart", c.restart)
	mux.HandleFunc("/stats", c.stats)
	mux.HandleFunc("/manifest", c.manifest)
	mux.HandleFunc("/expected", c.expected)
	mux.HandleFunc("/sampletime", c.sampleTime)
	mux.HandleFunc("/pod-uids", c.podUIDs)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// nodesArg resolves ?node= to nodes: a name, an index, or "all".
func (c *control) nodesArg(r *http.Request, allowAll bool) ([]*node, error) {
	v := r.URL.Query().Get("node")
	switch {
	case v == "":
		return nil, errors.New("missing node parameter")
	case v == "all" && allowAll:
		return c.s.nodes, nil
	}
	if nd, ok := c.s.byName[v]; ok {
		return []*node{nd}, nil
	}
	if i, err := strconv.Atoi(v); err == nil && i >= 0 && i < len(c.s.nodes) {
		return []*node{c.s.nodes[i]}, nil
	}
	return nil, fmt.Errorf("no node %q", v)
}

func (c *control) fault(w http.ResponseWriter, r *http.Request) {
	nodes, err := c.nodesArg(r, true)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut:
		now := c.s.now()
		if _, err := parseFault(r.URL.Query(), now); err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
		out := map[string]any{}
		for _, nd := range nodes {
			f, err := parseFault(r.URL.Query(), now) // one fault per node: own use counter
			if err != nil {
				fail(w, http.StatusBadRequest, "%v", err)
				return
			}
			old := nd.rt.state.Load()
			f.at = c.s.sampleTime(old, now)
			c.s.update(nd, func(st *nodeState) { st.fault = f })
			if err := c.s.applyTransport(nd, old.fault, f); err != nil {
				fail(w, http.StatusInternalServerError, "%v", err)
				return
			}
			out[nd.name] = f.describe()
		}
		writeJSON(w, http.StatusOK, map[string]any{"faults": out})
	case http.MethodDelete:
		for _, nd := range nodes {
			old := nd.rt.state.Load()
			if old.fault == nil {
				continue
			}
			c.s.update(nd, func(st *nodeState) { st.fault = nil })
			if err := c.s.applyTransport(nd, old.fault, nil); err != nil {
				fail(w, http.StatusInternalServerError, "%v", err)
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"cleared": len(nodes)})
	default:
		fail(w, http.StatusMethodNotAllowed, "use POST or DELETE")
	}
}

func (c *control) faults(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{}
	for _, nd := range c.s.nodes {
		if f := nd.rt.state.Load().fault; f != nil {
			out[nd.name] = f.describe()
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"faults": out})
}

// indexArg resolves a pod or container given by name or index.
func indexArg(v string, n int, name func(i int) string) (int, error) {
	for i := 0; i < n; i++ {
		if name(i) == v {
			return i, nil
		}
	}
	if i, err := strconv.Atoi(v); err == nil && i >= 0 && i < n {
		return i, nil
	}
	return 0, fmt.Errorf("no %q here", v)
}

func (c *control) restart(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	nodes, err := c.nodesArg(r, false)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	nd, q := nodes[0], r.URL.Query()
	j, err := indexArg(q.Get("pod"), len(nd.pods), func(i int) string { return nd.pods[i].name })
	if err != nil {
		fail(w, http.StatusBadRequest, "pod: %v", err)
		return
	}
	p := nd.pods[j]
	k, err := indexArg(q.Get("container"), len(p.containers), func(i int) string { return p.containers[i].name })
	if err != nil {
		fail(w, http.StatusBadRequest, "container: %v", err)
		return
	}
	now := c.s.now()
	var rec restartRec
	c.s.update(nd, func(st *nodeState) {
		T := c.s.sampleTime(st, now)
		at := now.Unix()
		if st.fault != nil && st.fault.kind == faultSkew {
			at += st.fault.offset
		}
		rec = restartRec{at: at, effT: T + c.s.cfg.interval}
		key := cref{j, k}
		st.restarts[key] = append(append([]restartRec{}, st.restarts[key]...), rec)
	})
	writeJSON(w, http.StatusOK, map[string]any{
		"node": nd.name, "namespace": p.namespace, "pod": p.name, "container": p.containers[k].name,
		"startTime": rfc3339(rec.at), "effectiveSampleTime": rfc3339(rec.effT),
	})
}

func countersJSON(cn *nodeCounters) map[string]int64 {
	return map[string]int64{
		"requests": cn.requests.Load(), "summaryRequests": cn.summary.Load(),
		"metricsRequests": cn.metrics.Load(), "podsRequests": cn.pods.Load(), "healthzRequests": cn.healthz.Load(),
		"unauthorized": cn.unauthorized.Load(), "notFound": cn.notFound.Load(),
		"faulted": cn.faulted.Load(), "bytes": cn.bytes.Load(), "renders": cn.renders.Load(),
		"cacheHits": cn.cacheHits.Load(), "connections": cn.conns.Load(),
	}
}

func (c *control) stats(w http.ResponseWriter, r *http.Request) {
	nodes := c.s.nodes
	if r.URL.Query().Get("node") != "" {
		var err error
		if nodes, err = c.nodesArg(r, true); err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	if r.Method == http.MethodDelete {
		for _, nd := range nodes {
			nd.rt.counters.reset()
		}
		writeJSON(w, http.StatusOK, map[string]any{"reset": len(nodes)})
		return
	}
	per := make(map[string]map[string]int64, len(nodes))
	total := map[string]int64{}
	for _, nd := range nodes {
		m := countersJSON(&nd.rt.counters)
		per[nd.name] = m
		for k, v := range m {
			total[k] += v
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"total": total, "nodes": per})
}

func (c *control) manifest(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, to := 0, len(c.s.nodes)
	if q.Get("node") != "" {
		nodes, err := c.nodesArg(r, false)
		if err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
		from, to = nodes[0].idx, nodes[0].idx+1
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fail(w, http.StatusBadRequest, "bad offset %q", v)
			return
		}
		from = min(n, len(c.s.nodes))
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fail(w, http.StatusBadRequest, "bad limit %q", v)
			return
		}
		to = min(from+n, len(c.s.nodes))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = c.s.writeManifest(w, from, to)
}

// parseTimeArg accepts unix seconds or RFC3339.
func parseTimeArg(v string) (time.Time, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	return time.Parse(time.RFC3339, v)
}

func (c *control) expected(w http.ResponseWriter, r *http.Request) {
	nodes, err := c.nodesArg(r, false)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	nd, q := nodes[0], r.URL.Query()
	st := nd.rt.state.Load()
	at := c.s.now()
	if v := q.Get("time"); v != "" {
		if at, err = parseTimeArg(v); err != nil {
			fail(w, http.StatusBadRequest, "time=%q: want unix seconds or RFC3339", v)
			return
		}
	}
	T := c.s.sampleTime(st, at)
	w.Header().Set("X-Sample-Time", rfc3339(T))
	w.Header().Set("X-Sample-Time-Unix", strconv.FormatInt(T, 10))
	cpuMem := q.Get("only_cpu_and_memory") == "true"
	smp := c.s.computeSample(nd, st, T, cpuMem)
	defer c.s.samples.Put(smp)
	if q.Get("format") == "prometheus" {
		pw := &pw{}
		renderMetrics(pw, &c.s.cfg, smp)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(pw.b)
		return
	}
	sum := toSummary(&c.s.cfg, smp)
	var b []byte
	if c.s.cfg.indent {
		b, err = json.MarshalIndent(sum, "", " ")
	} else {
		b, err = json.Marshal(sum)
	}
	if err != nil {
		fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (c *control) sampleTime(w http.ResponseWriter, r *http.Request) {
	nodes := c.s.nodes[:min(1, len(c.s.nodes))]
	if r.URL.Query().Get("node") != "" {
		var err error
		if nodes, err = c.nodesArg(r, false); err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	if len(nodes) == 0 {
		fail(w, http.StatusNotFound, "no nodes")
		return
	}
	now := c.s.now()
	T := c.s.sampleTime(nodes[0].rt.state.Load(), now)
	writeJSON(w, http.StatusOK, map[string]any{
		"node": nodes[0].name, "sampleTime": rfc3339(T), "sampleTimeUnix": T,
		"next": rfc3339(T + c.s.cfg.interval), "intervalSeconds": c.s.cfg.interval,
	})
}

func (c *control) podUIDs(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	var in map[string]string
	dec := json.NewDecoder(io.LimitReader(r.Body, 256<<20))
	if err := dec.Decode(&in); err != nil {
		fail(w, http.StatusBadRequest, "body: %v", err)
		return
	}
	c.podIdxMu.Lock()
	if c.podIndex == nil {
		c.podIndex = map[string]cref{}
		for _, nd := range c.s.nodes {
			for j, p := range nd.pods {
				c.podIndex[p.namespace+"/"+p.name] = cref{nd.idx, j}
			}
		}
	}
	idx := c.podIndex
	c.podIdxMu.Unlock()
	byNode := map[int]map[int]string{}
	var unknown []string
	for key, uid := range in {
		ref, ok := idx[key]
		if !ok {
			unknown = append(unknown, key)
			continue
		}
		if byNode[ref.p] == nil {
			byNode[ref.p] = map[int]string{}
		}
		byNode[ref.p][ref.c] = uid
	}
	for ni, m := range byNode {
		c.s.update(c.s.nodes[ni], func(st *nodeState) {
			for j, uid := range m {
				st.uids[j] = uid
			}
		})
	}
	sort.Strings(unknown)
	writeJSON(w, http.StatusOK, map[string]any{"updated": len(in) - len(unknown), "unknown": unknown})
}

// serveControl listens on addr (which must be a loopback address) and serves the control
// endpoint; it returns the bound address.
func (s *sim) serveControl(addr string) (string, *http.Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", nil, fmt.Errorf("-control %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", nil, fmt.Errorf("-control %q: only loopback addresses are allowed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("-control: %w", err)
	}
	srv := &http.Server{Handler: s.controlHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), srv, nil
}
