// SPDX-License-Identifier: Apache-2.0

// server_test.go — the HTTP side: auth, idempotent samples, counted faults, hang release,
// truncation, huge bodies, the control endpoint, and TLS with the wrongca/refused faults.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type testClock struct{ t atomic.Int64 }

func (c *testClock) now() time.Time  { return time.Unix(c.t.Load(), 0) }
func (c *testClock) set(unix int64)  { c.t.Store(unix) }
func (c *testClock) advance(s int64) { c.t.Add(s) }

func simWithClock(t *testing.T, cfg simConfig) (*sim, *testClock) {
	s := newTestSim(t, cfg)
	c := &testClock{}
	c.set(testEpoch + 1000)
	s.now = c.now
	tok := "tok-123"
	s.token.Store(&tok)
	return s, c
}

func get(t *testing.T, h http.Handler, path, auth string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestAuthAndRouting(t *testing.T) {
	s, _ := simWithClock(t, testConfig())
	h := s.handler(s.nodes[0])
	cases := []struct {
		path, auth string
		code       int
	}{
		{"/stats/summary", "", 401},
		{"/stats/summary", "Bearer wrong", 401},
		{"/stats/summary", "Basic tok-123", 401},
		{"/stats/summary", "Bearer tok-123", 200},
		{"/stats/summary", "bearer tok-123", 200},
		{"/metrics/resource", "Bearer tok-123", 200},
		{"/healthz", "", 200},
		{"/pods", "Bearer tok-123", 200},
		{"/pods", "Bearer wrong", 401},
		{"/pods/", "Bearer tok-123", 404},
	}
	for _, c := range cases {
		if w := get(t, h, c.path, c.auth); w.Code != c.code {
			t.Errorf("%s with %q: %d, want %d", c.path, c.auth, w.Code, c.code)
		}
	}
	if n := s.nodes[0].rt.counters.unauthorized.Load(); n != 4 {
		t.Errorf("unauthorized counter %d", n)
	}
}

func TestSameSampleWithinInterval(t *testing.T) {
	s, clk := simWithClock(t, testConfig())
	h := s.handler(s.nodes[1])
	a := get(t, h, "/stats/summary", "Bearer tok-123").Body.Bytes()
	clk.advance(9)
	b := get(t, h, "/stats/summary", "Bearer tok-123").Body.Bytes()
	if !bytes.Equal(a, b) {
		t.Fatal("two scrapes in one interval differ")
	}
	if hits := s.nodes[1].rt.counters.cacheHits.Load(); hits != 1 {
		t.Errorf("cache hits %d", hits)
	}
	s.useCache = false
	if c := get(t, h, "/stats/summary", "Bearer tok-123").Body.Bytes(); !bytes.Equal(a, c) {
		t.Fatal("an uncached render differs from the cached one")
	}
	clk.advance(1)
	if c := get(t, h, "/stats/summary", "Bearer tok-123").Body.Bytes(); bytes.Equal(a, c) {
		t.Fatal("the next interval returns the same sample")
	}
	var sum Summary
	if err := json.Unmarshal(a, &sum); err != nil || sum.Node.CPU.Time != rfc3339(testEpoch+1000) {
		t.Fatalf("sample time: %v %v", err, sum.Node.CPU)
	}
}

func TestCountedFault(t *testing.T) {
	s, clk := simWithClock(t, testConfig())
	nd := s.nodes[0]
	f, err := parseFault(url.Values{"kind": {"status500"}, "count": {"2"}, "path": {"summary"}}, clk.now())
	if err != nil {
		t.Fatal(err)
	}
	s.update(nd, func(st *nodeState) { st.fault = f })
	h := s.handler(nd)
	if w := get(t, h, "/metrics/resource", "Bearer tok-123"); w.Code != 200 {
		t.Errorf("path=summary fault hit metrics: %d", w.Code)
	}
	for i, want := range []int{500, 500, 200} {
		if w := get(t, h, "/stats/summary", "Bearer tok-123"); w.Code != want {
			t.Errorf("request %d: %d, want %d", i, w.Code, want)
		}
	}
}

func TestParseFaultErrors(t *testing.T) {
	for _, q := range []string{"kind=bogus", "kind=slow&rate=0", "kind=hang&stage=never",
		"kind=malformed&variant=x", "kind=huge&size=abc", "kind=skew&offset=soon"} {
		v, _ := url.ParseQuery(q)
		if _, err := parseFault(v, time.Now()); err == nil {
			t.Errorf("%s accepted", q)
		}
	}
	v, _ := url.ParseQuery("kind=huge&size=2MiB&length=1")
	if f, err := parseFault(v, time.Now()); err != nil || f.size != 2<<20 || !f.length {
		t.Errorf("size parse: %v %+v", err, f)
	}
}

func TestHangReleased(t *testing.T) {
	s, clk := simWithClock(t, testConfig())
	nd := s.nodes[0]
	f, _ := parseFault(url.Values{"kind": {"hang"}}, clk.now())
	s.update(nd, func(st *nodeState) { st.fault = f })
	srv := httptest.NewServer(s.handler(nd))
	defer srv.Close()
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", srv.URL+"/stats/summary", nil)
		req.Header.Set("Authorization", "Bearer tok-123")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case <-done:
		t.Fatal("hang answered")
	case <-time.After(200 * time.Millisecond):
	}
	s.update(nd, func(st *nodeState) { st.fault = nil })
	select {
	case code := <-done:
		if code != 200 {
			t.Errorf("released hang: %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("hang not released")
	}
}

func authGet(t *testing.T, url string) (*http.Response, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer tok-123")
	return http.DefaultClient.Do(req)
}

func TestTruncatedAndHuge(t *testing.T) {
	s, clk := simWithClock(t, testConfig())
	nd := s.nodes[2]
	srv := httptest.NewServer(s.handler(nd))
	defer srv.Close()
	full := get(t, s.handler(nd), "/stats/summary", "Bearer tok-123").Body.Bytes()

	f, _ := parseFault(url.Values{"kind": {"truncated"}}, clk.now())
	s.update(nd, func(st *nodeState) { st.fault = f })
	resp, err := authGet(t, srv.URL+"/stats/summary")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || resp.ContentLength != int64(len(full)) || len(b) != len(full)/2 {
		t.Errorf("truncated: err %v, length %d, got %d of %d", err, resp.ContentLength, len(b), len(full))
	}

	f, _ = parseFault(url.Values{"kind": {"huge"}, "size": {"1MB"}, "length": {"1"}}, clk.now())
	s.update(nd, func(st *nodeState) { st.fault = f })
	resp, err = authGet(t, srv.URL+"/stats/summary")
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	var sum Summary
	if err != nil || int64(len(b)) != resp.ContentLength || len(b) > 1e6 || len(b) < 9e5 ||
		json.Unmarshal(b, &sum) != nil || len(sum.Pods) <= len(nd.pods) {
		t.Errorf("huge: err %v, %d bytes, declared %d, %d pods", err, len(b), resp.ContentLength, len(sum.Pods))
	}
}

func TestControlEndpoint(t *testing.T) {
	s, _ := simWithClock(t, testConfig())
	ctl := httptest.NewServer(s.controlHandler())
	defer ctl.Close()
	do := func(method, path string, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, ctl.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := do("POST", "/fault?node=node-0001&kind=nan&count=3", ""); code != 200 ||
		!strings.Contains(string(b), `"kind": "nan"`) {
		t.Fatalf("POST fault: %d %s", code, b)
	}
	if code, b := do("GET", "/faults", ""); code != 200 || !strings.Contains(string(b), "node-0001") {
		t.Fatalf("GET faults: %d %s", code, b)
	}
	if code, _ := do("DELETE", "/fault?node=all", ""); code != 200 || s.nodes[1].rt.state.Load().fault != nil {
		t.Fatal("DELETE fault")
	}
	if code, _ := do("POST", "/fault?node=node-9999&kind=nan", ""); code != 400 {
		t.Error("fault on an unknown node accepted")
	}

	// /expected is exactly what a scrape returns.
	h := s.handler(s.nodes[3])
	scraped := get(t, h, "/stats/summary", "Bearer tok-123").Body.Bytes()
	if code, exp := do("GET", "/expected?node=node-0003", ""); code != 200 || !bytes.Equal(exp, scraped) {
		t.Fatalf("/expected differs from /stats/summary (%d)", code)
	}
	promScraped := get(t, h, "/metrics/resource", "Bearer tok-123").Body.Bytes()
	if _, exp := do("GET", "/expected?node=3&format=prometheus", ""); !bytes.Equal(exp, promScraped) {
		t.Fatal("/expected?format=prometheus differs from /metrics/resource")
	}
	if _, exp := do("GET", "/expected?node=node-0003&time="+rfc3339(testEpoch+3605), ""); !bytes.Contains(exp,
		[]byte(`"time": "`+rfc3339(testEpoch+3600)+`"`)) {
		t.Error("/expected?time= not floored to the sample interval")
	}

	// A restart shows in the next sample.
	code, b := do("POST", "/restart?node=node-0003&pod=p002-node-0003&container=sidecar", "")
	if code != 200 {
		t.Fatalf("restart: %d %s", code, b)
	}
	var rr map[string]string
	_ = json.Unmarshal(b, &rr)
	_, exp := do("GET", "/expected?node=node-0003&time="+rr["effectiveSampleTime"], "")
	var sum Summary
	if err := json.Unmarshal(exp, &sum); err != nil || sum.Pods[2].Containers[1].StartTime != rr["startTime"] {
		t.Errorf("restart not visible: %v %+v", err, rr)
	}

	// UIDs reported back from the API server are served.
	if code, b := do("POST", "/pod-uids", `{"ns-1/p001-node-0000": "11111111-2222-3333-4444-555555555555", "x/y": "z"}`); code != 200 ||
		!strings.Contains(string(b), `"updated": 1`) {
		t.Fatalf("pod-uids: %d %s", code, b)
	}
	var s0 Summary
	_ = json.Unmarshal(get(t, s.handler(s.nodes[0]), "/stats/summary", "Bearer tok-123").Body.Bytes(), &s0)
	if s0.Pods[1].PodRef.UID != "11111111-2222-3333-4444-555555555555" {
		t.Errorf("uid not overridden: %+v", s0.Pods[1].PodRef)
	}

	// The manifest lists every node and pod.
	var m struct {
		Nodes []manifestNode `json:"nodes"`
	}
	if _, b := do("GET", "/manifest", ""); json.Unmarshal(b, &m) != nil || len(m.Nodes) != 4 ||
		len(m.Nodes[2].Pods) != 7 || m.Nodes[2].Address != "127.1.0.3" || m.Nodes[0].Pods[1].UID != "11111111-2222-3333-4444-555555555555" {
		t.Fatalf("manifest: %+v", m)
	}
	if _, b := do("GET", "/stats?node=node-0000", ""); !strings.Contains(string(b), `"summaryRequests": 1`) {
		t.Errorf("stats: %s", b)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestTLS serves two nodes over HTTPS in ports mode and exercises wrongca and refused.
func TestTLS(t *testing.T) {
	cfg := testConfig()
	cfg.nodes, cfg.listenMode, cfg.port = 2, "ports", freePort(t)
	s, _ := simWithClock(t, cfg)
	ca, err := newSelfSignedCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	s.certs = &lazyCerts{ca: ca}
	s.http2 = true
	if err := issueAll(ca, s.nodes); err != nil {
		t.Fatal(err)
	}
	for _, nd := range s.nodes {
		if err := s.listen(nd); err != nil {
			t.Skipf("cannot listen: %v", err)
		}
	}
	defer s.shutdown()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	client := func() *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	}
	nd := s.nodes[1]
	url := "https://" + nd.addrPort() + "/stats/summary"
	fetch := func() (*http.Response, error) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer tok-123")
		resp, err := client().Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	resp, err := fetch()
	if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("https: %v %+v", err, resp)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if leaf.Subject.CommonName != "system:node:node-0001" || leaf.DNSNames[0] != "node-0001" ||
		!leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("leaf: %v %v %v", leaf.Subject, leaf.DNSNames, leaf.IPAddresses)
	}

	for _, kind := range []faultKind{faultWrongCA, faultExpired, faultRefused} {
		old := nd.rt.state.Load().fault
		f := &fault{kind: kind}
		s.update(nd, func(st *nodeState) { st.fault = f })
		if err := s.applyTransport(nd, old, f); err != nil {
			t.Fatal(err)
		}
		if _, err := fetch(); err == nil {
			t.Errorf("%s: request succeeded", kind)
		} else if kind == faultRefused && !strings.Contains(err.Error(), "refused") {
			t.Errorf("refused: %v", err)
		}
		s.update(nd, func(st *nodeState) { st.fault = nil })
		if err := s.applyTransport(nd, f, nil); err != nil {
			t.Fatal(err)
		}
		if resp, err := fetch(); err != nil || resp.StatusCode != 200 {
			t.Errorf("after clearing %s: %v", kind, err)
		}
	}
}
