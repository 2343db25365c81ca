package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// selfSigned writes a self-signed ECDSA certificate for 127.0.0.1 and its
// key to dir and returns their paths.
func selfSigned(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})), 0o600)
	return certFile, keyFile
}

func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir, "first")
	c, err := LoadCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Subject(); got != "CN=first" {
		t.Errorf("Subject() = %q, want CN=first", got)
	}
	cfg := c.TLSConfig()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("TLSConfig().MinVersion = %x, want TLS 1.2", cfg.MinVersion)
	}

	// A broken key file keeps the first certificate.
	writeFile(t, keyFile, "not a key", 0o600)
	if err := c.Reload(); err == nil {
		t.Fatal("Reload with a broken key succeeded")
	}
	kp, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || kp.Leaf.Subject.CommonName != "first" {
		t.Fatalf("after failed reload: GetCertificate = %v, %v, want CN first", kp, err)
	}

	selfSigned(t, dir, "second")
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	kp, err = cfg.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || kp.Leaf.Subject.CommonName != "second" {
		t.Fatalf("after reload: GetCertificate = %v, %v, want CN second", kp, err)
	}
}

func TestLoadCertificateErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir, "x")
	if _, err := LoadCertificate(certFile, filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadCertificate with a missing key succeeded")
	}
	if _, err := LoadCertificate(keyFile, certFile); err == nil {
		t.Error("LoadCertificate with the files swapped succeeded")
	}
	os.Remove(certFile)
	if _, err := LoadCertificate(certFile, keyFile); err == nil {
		t.Error("LoadCertificate with a missing certificate succeeded")
	}
}
