// SPDX-License-Identifier: Apache-2.0

// tlscerts.go — the nodes' serving certificates: the test CA loaded from PEM files (RSA or
// EC key, PKCS#1, SEC 1 or PKCS#8), one ECDSA P-256 leaf per node issued in-process at
// startup, and — only when a fault asks for them — leaves from a self-made wrong CA and
// expired leaves from the right CA.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"runtime"
	"sync"
	"time"
)

type certAuthority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// loadCA reads a CA certificate and its private key from PEM files.
func loadCA(certPath, keyPath string) (*certAuthority, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("reading -ca-cert: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("reading -ca-key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%s does not hold the key of %s", keyPath, certPath)
	}
	return &certAuthority{cert: cert, key: key}, nil
}

func parsePrivateKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM private key block")
		}
		switch b.Type {
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(b.Bytes)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, err
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("unsupported PKCS#8 key type %T", k)
			}
			return s, nil
		}
		// Skip other blocks such as "EC PARAMETERS".
	}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}

// newSelfSignedCA makes the "wrong" CA for the wrongca fault.
func newSelfSignedCA(cn string) (*certAuthority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &certAuthority{cert: cert, key: key}, nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

// issue makes a serving certificate for a node like a kubelet's CSR-issued one:
// CN system:node:NAME, O system:nodes, SANs = node name (DNS) and node IP.
func (ca *certAuthority) issue(nd *node, notBefore, notAfter time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "system:node:" + nd.name, Organization: []string{"system:nodes"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{nd.name},
		IPAddresses:  []net.IP{net.IP(nd.ip.AsSlice())},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// issueAll makes every node's serving certificate, in parallel.
func issueAll(ca *certAuthority, nodes []*node) error {
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	next := make(chan *node)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for nd := range next {
				c, err := ca.issue(nd, now.Add(-time.Hour), now.Add(365*24*time.Hour))
				if err != nil {
					select {
					case errs <- fmt.Errorf("issuing the certificate of %s: %w", nd.name, err):
					default:
					}
					continue
				}
				nd.rt.cert = c
			}
		}()
	}
	for _, nd := range nodes {
		next <- nd
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// lazyCerts holds the certificates only faults need, made on first use.
type lazyCerts struct {
	mu      sync.Mutex
	ca      *certAuthority // the real CA
	wrongCA *certAuthority
}

func (lc *lazyCerts) wrong(nd *node) (*tls.Certificate, error) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if nd.rt.wrongCert != nil {
		return nd.rt.wrongCert, nil
	}
	if lc.wrongCA == nil {
		ca, err := newSelfSignedCA("kubeletsim-wrong-ca")
		if err != nil {
			return nil, err
		}
		lc.wrongCA = ca
	}
	now := time.Now()
	c, err := lc.wrongCA.issue(nd, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		return nil, err
	}
	nd.rt.wrongCert = c
	return c, nil
}

func (lc *lazyCerts) expired(nd *node) (*tls.Certificate, error) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if nd.rt.expiredCert != nil {
		return nd.rt.expiredCert, nil
	}
	now := time.Now()
	c, err := lc.ca.issue(nd, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	nd.rt.expiredCert = c
	return c, nil
}
