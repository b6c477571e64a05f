// SPDX-License-Identifier: Apache-2.0

// listen.go — a node's listener and TLS: per-node certificates chosen at handshake time (the
// wrongca/expired/hang-tls faults act here), the accept-stage hang, connection tracking, and
// the refused fault's close/re-listen.
package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// holdListener parks accepted connections without reading them while the node has a
// "hang stage=accept" fault.
type holdListener struct {
	net.Listener
	nd *node
}

func (l *holdListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.nd.rt.counters.conns.Add(1)
		if f := l.nd.rt.state.Load().fault; f != nil && f.kind == faultHang && f.stage == "accept" {
			l.nd.rt.connMu.Lock()
			l.nd.rt.held = append(l.nd.rt.held, c)
			l.nd.rt.connMu.Unlock()
			continue
		}
		return c, nil
	}
}

func (s *sim) tlsConfig(nd *node) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			for {
				st := nd.rt.state.Load()
				f := st.fault
				switch {
				case f == nil:
					return nd.rt.cert, nil
				case f.kind == faultWrongCA:
					return s.certs.wrong(nd)
				case f.kind == faultExpired:
					return s.certs.expired(nd)
				case f.kind == faultHang && f.stage == "tls":
					select {
					case <-st.changed:
						continue
					case <-hello.Context().Done():
						return nil, errors.New("client went away during a hang")
					case <-time.After(time.Hour): // bound the parked goroutines
						return nil, errors.New("hang stage=tls gave up after an hour")
					}
				}
				return nd.rt.cert, nil
			}
		},
	}
	if s.http2 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	} else {
		cfg.NextProtos = []string{"http/1.1"}
	}
	return cfg
}

func (s *sim) newServer(nd *node) *http.Server {
	srv := &http.Server{
		Handler:           s.handler(nd),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          log.New(discardWriter{}, "", 0),
		ConnState: func(c net.Conn, cs http.ConnState) {
			nd.rt.connMu.Lock()
			switch cs {
			case http.StateNew:
				nd.rt.conns[c] = struct{}{}
			case http.StateClosed, http.StateHijacked:
				delete(nd.rt.conns, c)
			}
			nd.rt.connMu.Unlock()
		},
	}
	if !s.http2 {
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	return srv
}

type discardWriter struct{}

func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }

func (nd *node) addrPort() string {
	return netip.AddrPortFrom(nd.ip, uint16(nd.port)).String()
}

// listen opens nd's listener; the server starts serving it in the background.
func (s *sim) listen(nd *node) error {
	ln, err := net.Listen("tcp4", nd.addrPort())
	if err != nil {
		return fmt.Errorf("%s: listening on %s: %w", nd.name, nd.addrPort(), err)
	}
	var l net.Listener = &holdListener{Listener: ln, nd: nd}
	if !s.plain {
		l = tls.NewListener(l, s.tlsConfig(nd))
	}
	nd.rt.ln = l
	if nd.rt.srv == nil {
		nd.rt.srv = s.newServer(nd)
	}
	srv := nd.rt.srv
	go func() { _ = srv.Serve(l) }()
	return nil
}

// closeConns closes every open connection of nd (and the parked ones), so that the next
// request has to connect and handshake again.
func (nd *node) closeConns() {
	nd.rt.connMu.Lock()
	conns := make([]net.Conn, 0, len(nd.rt.conns)+len(nd.rt.held))
	for c := range nd.rt.conns {
		conns = append(conns, c)
	}
	conns = append(conns, nd.rt.held...)
	nd.rt.held = nil
	nd.rt.connMu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// applyTransport reconciles nd's listener and connections with a fault change.
func (s *sim) applyTransport(nd *node, old, cur *fault) error {
	nd.rt.mu.Lock()
	defer nd.rt.mu.Unlock()
	wasRefused := old != nil && old.kind == faultRefused
	isRefused := cur != nil && cur.kind == faultRefused
	if isRefused && nd.rt.ln != nil {
		_ = nd.rt.ln.Close()
		nd.rt.ln = nil
	}
	// A transport fault coming or going changes what a fresh connection sees: drop the old
	// ones so clients cannot keep using a connection made before the change.
	if (old != nil && old.isTransport()) || (cur != nil && cur.isTransport()) {
		nd.closeConns()
	}
	if wasRefused && !isRefused && nd.rt.ln == nil {
		return s.listen(nd)
	}
	return nil
}

func (s *sim) shutdown() {
	var wg sync.WaitGroup
	for _, nd := range s.nodes {
		if nd.rt.srv == nil {
			continue
		}
		wg.Add(1)
		go func(nd *node) {
			defer wg.Done()
			_ = nd.rt.srv.Close()
			nd.closeConns()
		}(nd)
	}
	wg.Wait()
}
