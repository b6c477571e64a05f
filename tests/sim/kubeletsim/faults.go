// SPDX-License-Identifier: Apache-2.0

// faults.go — the fault kinds a test can switch on per node, their parameters, and the
// handlers that produce the broken responses.
//
// Three layers:
//   - transport (listener/TLS): refused, wrongca, expired, hang with stage=accept|tls
//   - response (HTTP handler): slow, hang (stage=http), status500, truncated, malformed, huge,
//     endless, deep, badutf8, wrongtypes, nan, partial
//   - value (the model): counterreset, stale, skew — these also show in /expected.
package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

type faultKind string

const (
	faultSlow         faultKind = "slow"
	faultHang         faultKind = "hang"
	faultStatus500    faultKind = "status500"
	faultTruncated    faultKind = "truncated"
	faultMalformed    faultKind = "malformed"
	faultHuge         faultKind = "huge"
	faultEndless      faultKind = "endless"
	faultDeep         faultKind = "deep"
	faultBadUTF8      faultKind = "badutf8"
	faultWrongTypes   faultKind = "wrongtypes"
	faultNaN          faultKind = "nan"
	faultPartial      faultKind = "partial"
	faultCounterReset faultKind = "counterreset"
	faultStale        faultKind = "stale"
	faultSkew         faultKind = "skew"
	faultWrongCA      faultKind = "wrongca"
	faultExpired      faultKind = "expired"
	faultRefused      faultKind = "refused"
)

var allFaultKinds = []faultKind{
	faultSlow, faultHang, faultStatus500, faultTruncated, faultMalformed, faultHuge,
	faultEndless, faultDeep, faultBadUTF8, faultWrongTypes, faultNaN, faultPartial,
	faultCounterReset, faultStale, faultSkew, faultWrongCA, faultExpired, faultRefused,
}

// fault is one active fault on a node. Immutable once installed, except remaining.
type fault struct {
	kind    faultKind
	since   time.Time
	at      int64  // sample time current when installed (counterreset, stale)
	paths   string // "all", "summary" or "metrics": which data endpoints a response fault hits
	count   int64  // 0: until deleted; else how many responses it affects
	rate    int64  // slow: bytes per second
	stage   string // hang: accept, tls or http
	code    int    // status500: the status code
	variant string // malformed: mid, trailing, eof, trailingcomma, empty, html, singlequote
	size    int64  // huge: body size in bytes
	fill    string // huge/endless: pods, space or string
	length  bool   // huge: declare Content-Length
	chunked bool   // truncated: cut a chunked body instead of a Content-Length one
	cut     int64  // truncated/malformed: byte offset (default: half)
	depth   int    // deep: nesting depth
	shape   string // deep: array or object
	offset  int64  // skew: seconds added to the node's clock

	remaining atomic.Int64
}

// isTransport reports whether the fault acts below HTTP (listener or TLS).
func (f *fault) isTransport() bool {
	switch f.kind {
	case faultRefused, faultWrongCA, faultExpired:
		return true
	case faultHang:
		return f.stage == "accept" || f.stage == "tls"
	}
	return false
}

// isResponse reports whether the fault changes HTTP responses.
func (f *fault) isResponse() bool {
	switch f.kind {
	case faultCounterReset, faultStale, faultSkew, faultRefused, faultWrongCA, faultExpired:
		return false
	case faultHang:
		return f.stage == "http"
	}
	return true
}

// appliesTo reports whether the response fault covers a data path.
func (f *fault) appliesTo(path string) bool {
	switch f.paths {
	case "summary":
		return path == pathSummary
	case "metrics":
		return path == pathMetrics
	}
	return true
}

// take consumes one use of a counted fault; false once it is used up.
func (f *fault) take() bool {
	if f.count <= 0 {
		return true
	}
	return f.remaining.Add(-1) >= 0
}

func (f *fault) describe() map[string]any {
	d := map[string]any{"kind": string(f.kind), "since": f.since.UTC().Format(time.RFC3339)}
	if f.count > 0 {
		d["count"] = f.count
		d["remaining"] = max(f.remaining.Load(), 0)
	}
	if f.paths != "all" {
		d["path"] = f.paths
	}
	switch f.kind {
	case faultSlow:
		d["rate"] = f.rate
	case faultHang:
		d["stage"] = f.stage
	case faultStatus500:
		d["code"] = f.code
	case faultMalformed:
		d["variant"] = f.variant
	case faultHuge:
		d["size"], d["fill"] = f.size, f.fill
	case faultEndless:
		d["fill"] = f.fill
	case faultDeep:
		d["depth"], d["shape"] = f.depth, f.shape
	case faultCounterReset, faultStale:
		d["at"] = rfc3339(f.at)
	case faultSkew:
		d["offset"] = f.offset
	}
	return d
}

// parseFault builds a fault from the control endpoint's query parameters.
func parseFault(q url.Values, now time.Time) (*fault, error) {
	f := &fault{
		kind: faultKind(q.Get("kind")), since: now, paths: "all", rate: 1, stage: "http",
		code: 500, variant: "mid", size: 100_000_000, fill: "pods", depth: 100_000,
		shape: "array", cut: -1,
	}
	known := false
	for _, k := range allFaultKinds {
		known = known || k == f.kind
	}
	if !known {
		return nil, fmt.Errorf("unknown fault kind %q (known: %v)", f.kind, allFaultKinds)
	}
	var err error
	getInt := func(name string, dst *int64, lo, hi int64) {
		v := q.Get(name)
		if v == "" || err != nil {
			return
		}
		n, perr := parseSize(v)
		if perr != nil || n < lo || n > hi {
			err = fmt.Errorf("%s=%q: want a number in [%d, %d]", name, v, lo, hi)
			return
		}
		*dst = n
	}
	oneOf := func(name string, dst *string, allowed ...string) {
		v := q.Get(name)
		if v == "" || err != nil {
			return
		}
		for _, a := range allowed {
			if v == a {
				*dst = v
				return
			}
		}
		err = fmt.Errorf("%s=%q: want one of %v", name, v, allowed)
	}
	oneOf("path", &f.paths, "all", "summary", "metrics")
	getInt("count", &f.count, 0, 1<<40)
	getInt("rate", &f.rate, 1, 1<<30)
	oneOf("stage", &f.stage, "accept", "tls", "http")
	code := int64(f.code)
	getInt("code", &code, 100, 599)
	f.code = int(code)
	oneOf("variant", &f.variant, "mid", "trailing", "eof", "trailingcomma", "empty", "html",
		"singlequote")
	getInt("size", &f.size, 1, 1<<50)
	oneOf("fill", &f.fill, "pods", "space", "string")
	getInt("cut", &f.cut, 0, 1<<40)
	depth := int64(f.depth)
	getInt("depth", &depth, 1, 100_000_000)
	f.depth = int(depth)
	oneOf("shape", &f.shape, "array", "object")
	if v := q.Get("offset"); v != "" && err == nil {
		d, perr := time.ParseDuration(v)
		if perr != nil {
			n, perr2 := strconv.ParseInt(v, 10, 64)
			if perr2 != nil {
				return nil, fmt.Errorf("offset=%q: want a duration like -90s or seconds", v)
			}
			d = time.Duration(n) * time.Second
		}
		f.offset = int64(d / time.Second)
	}
	f.length = q.Get("length") == "1" || q.Get("length") == "true"
	f.chunked = q.Get("chunked") == "1" || q.Get("chunked") == "true"
	if err != nil {
		return nil, err
	}
	f.remaining.Store(f.count)
	return f, nil
}

// parseSize accepts plain integers and sizes like 100MB, 64KiB, 1G.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	units := []struct {
		suf string
		m   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6},
		{"GB", 1e9}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"k", 1e3},
	}
	for _, u := range units {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	return n * mult, nil
}

// ---- response faults ---------------------------------------------------------------------

func flush(w http.ResponseWriter) { _ = http.NewResponseController(w).Flush() }

// abortResponse ends the response without completing it: net/http closes the connection
// (HTTP/1.1) or resets the stream (HTTP/2).
func abortResponse() { panic(http.ErrAbortHandler) }

func cutAt(f *fault, n int) int {
	if f.cut >= 0 && f.cut < int64(n) {
		return int(f.cut)
	}
	return n / 2
}

// serveSlow writes body at f.rate bytes per second until done or the client leaves.
func serveSlow(w http.ResponseWriter, r *http.Request, ctype string, body []byte, f *fault) int64 {
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(http.StatusOK)
	flush(w)
	var sent int64
	tick := time.NewTicker(time.Second / time.Duration(min(f.rate, 1000)))
	defer tick.Stop()
	per := max(f.rate/1000, 1)
	for len(body) > 0 {
		select {
		case <-r.Context().Done():
			return sent
		case <-tick.C:
		}
		n := int(min(per, int64(len(body))))
		if _, err := w.Write(body[:n]); err != nil {
			return sent
		}
		flush(w)
		body, sent = body[n:], sent+int64(n)
	}
	return sent
}

func serveTruncated(w http.ResponseWriter, ctype string, body []byte, f *fault) int64 {
	n := cutAt(f, len(body))
	w.Header().Set("Content-Type", ctype)
	if !f.chunked {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body[:n])
	flush(w)
	abortResponse()
	return int64(n)
}

// malformedBody turns a valid document into the chosen kind of invalid one.
func malformedBody(body []byte, f *fault) (ctype string, out []byte) {
	ctype = "application/json"
	n := cutAt(f, len(body))
	switch f.variant {
	case "trailing":
		out = append(append([]byte{}, body...), "\n{\"trailing\": garbage}"...)
	case "eof": // a complete HTTP response whose JSON simply stops
		out = body[:n]
	case "trailingcomma":
		i := strings.LastIndexByte(string(body), '}')
		j := strings.LastIndexByte(string(body[:max(i, 0)]), '}')
		if j < 0 {
			j = 0
		}
		out = append(append(append([]byte{}, body[:j+1]...), ','), body[j+1:]...)
	case "empty":
		out = []byte{}
	case "html":
		ctype = "text/html; charset=utf-8"
		out = []byte("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
			"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n")
	case "singlequote":
		out = []byte(strings.ReplaceAll(string(body), `"`, `'`))
	default: // mid
		out = append(append(append([]byte{}, body[:n]...), "@#!not json!#@ ]]}},,"...), body[n:]...)
	}
	return ctype, out
}

// deepBody is a document nested f.depth levels inside systemContainers.
func deepBody(nodeName string, f *fault) []byte {
	var b []byte
	b = append(b, `{"node":{"nodeName":`...)
	b = strconv.AppendQuote(b, nodeName)
	b = append(b, `,"systemContainers":`...)
	if f.shape == "object" {
		for i := 0; i < f.depth; i++ {
			b = append(b, `{"a":`...)
		}
		b = append(b, '1')
		b = append(b, strings.Repeat("}", f.depth)...)
	} else {
		b = append(b, strings.Repeat("[", f.depth)...)
		b = append(b, strings.Repeat("]", f.depth)...)
	}
	b = append(b, `},"pods":[]}`...)
	return b
}

// deepMetrics is the Prometheus text counterpart: a label block nested absurdly deep.
func deepMetrics(f *fault) []byte {
	return []byte("node_cpu_usage_seconds_total" + strings.Repeat("{", f.depth) + " 1\n")
}

// streamRepeated writes head, then unit repeated (joined by sep) until limit bytes (or
// forever with limit < 0), then tail. It stops when the client goes away.
func streamRepeated(w http.ResponseWriter, r *http.Request, head, unit, sep, tail []byte,
	limit int64, declare bool) int64 {
	var total int64
	if declare && limit >= 0 {
		total = plannedSize(len(head), len(unit), len(sep), len(tail), limit)
		w.Header().Set("Content-Length", strconv.FormatInt(total, 10))
	}
	w.WriteHeader(http.StatusOK)
	var sent int64
	write := func(b []byte) bool {
		if len(b) == 0 {
			return true
		}
		n, err := w.Write(b)
		sent += int64(n)
		return err == nil && r.Context().Err() == nil
	}
	if !write(head) || !write(unit) {
		return sent
	}
	step := int64(len(sep) + len(unit))
	chunk := make([]byte, 0, 1<<20)
	for step > 0 {
		if limit >= 0 && sent+step+int64(len(tail)) > limit {
			break
		}
		chunk = chunk[:0]
		for len(chunk) == 0 || len(chunk)+int(step) <= cap(chunk) {
			if limit >= 0 && sent+int64(len(chunk))+step+int64(len(tail)) > limit {
				break
			}
			chunk = append(chunk, sep...)
			chunk = append(chunk, unit...)
		}
		if !write(chunk) {
			return sent
		}
	}
	write(tail)
	return sent
}

// plannedSize is the exact length streamRepeated produces for a limit.
func plannedSize(head, unit, sep, tail int, limit int64) int64 {
	size := int64(head + unit)
	step := int64(sep + unit)
	if step > 0 && limit-size-int64(tail) >= step {
		size += (limit - size - int64(tail)) / step * step
	}
	return size + int64(tail)
}
