package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Certificate is a TLS key pair loaded from two PEM files and reloadable:
// handshakes after a successful Reload present the new certificate, and a
// failed Reload keeps the current one. Safe for concurrent use.
type Certificate struct {
	certFile, keyFile string
	mu                sync.Mutex // serialises reloads
	cur               atomic.Pointer[tls.Certificate]
}

// LoadCertificate loads the PEM certificate chain and private key.
func LoadCertificate(certFile, keyFile string) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads both files again. On error the current certificate stays.
func (c *Certificate) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	kp, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls key pair %s, %s: %w", c.certFile, c.keyFile, err)
	}
	if kp.Leaf == nil {
		if kp.Leaf, err = x509.ParseCertificate(kp.Certificate[0]); err != nil {
			return fmt.Errorf("tls certificate %s: %w", c.certFile, err)
		}
	}
	c.cur.Store(&kp)
	return nil
}

// NotAfter is when the certificate in force expires.
func (c *Certificate) NotAfter() time.Time { return c.cur.Load().Leaf.NotAfter }

// Subject is the certificate's subject, for logs.
func (c *Certificate) Subject() string { return c.cur.Load().Leaf.Subject.String() }

// GetCertificate returns the certificate in force; it is meant for
// tls.Config.GetCertificate.
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if kp := c.cur.Load(); kp != nil {
		return kp, nil
	}
	return nil, errors.New("no tls certificate loaded")
}

// TLSConfig is a server configuration that presents the certificate in
// force and refuses anything older than TLS 1.2.
func (c *Certificate) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}
