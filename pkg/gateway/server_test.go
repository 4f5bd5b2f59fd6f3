package gateway

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// gatedPublisher holds every Publish until release is closed.
type gatedPublisher struct {
	entered chan struct{}
	release chan struct{}
}

func (p *gatedPublisher) Publish(ctx context.Context, _ *kgo.Record) error {
	p.entered <- struct{}{}
	select {
	case <-p.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func startServer(t *testing.T, pub Publisher, opts ServerOptions) (*Server, context.CancelFunc, chan error) {
	t.Helper()
	h, err := NewHandler(HandlerOptions{
		Sources:   []Source{mustSource(t, "platform", "online", testTopic, nil, 1000, 1000, secretA)},
		Publisher: pub, Log: zap.NewNop(), Metrics: NewMetrics(prometheus.NewRegistry()),
	})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Drain == 0 {
		opts.Drain = 10 * time.Second
	}
	srv, err := NewServer(h, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return srv, cancel, done
}

func signedRequest(t *testing.T, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ts, sig := SignatureHeader(time.Now(), body, secretA)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, sig)
	return req
}

func TestShutdownDrainsInFlightRequests(t *testing.T) {
	pub := &gatedPublisher{entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv, cancel, done := startServer(t, pub, ServerOptions{})
	type result struct {
		status int
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(signedRequest(t, "http://"+srv.Addr()+"/webhooks/platform", testBody("evt-drain", "online", "api")))
		if err != nil {
			res <- result{err: err}
			return
		}
		resp.Body.Close()
		res <- result{status: resp.StatusCode}
	}()
	<-pub.entered // the request is in flight, waiting for Kafka
	cancel()
	select {
	case err := <-done:
		t.Fatalf("server stopped (%v) with a request in flight", err)
	case <-time.After(200 * time.Millisecond): // a check that it waits, not a synchronisation
	}
	// New connections are refused while draining.
	if c, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("a new connection was accepted during the drain")
	}
	close(pub.release)
	r := <-res
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("in-flight request: %d %v, want 200", r.status, r.err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	done <- nil // for the cleanup
}

type okPublisher struct{}

func (okPublisher) Publish(context.Context, *kgo.Record) error { return nil }

func TestTLSFromCertFiles(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, _, _ := startServer(t, okPublisher{}, ServerOptions{TLSCert: certFile, TLSKey: keyFile})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := client.Do(signedRequest(t, "https://"+srv.Addr()+"/webhooks/platform", testBody("evt-tls", "online", "api")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTPS status %d", resp.StatusCode)
	}
	// Plain HTTP gets no answer from the TLS listener.
	if resp, err := http.DefaultClient.Do(signedRequest(t, "http://"+srv.Addr()+"/webhooks/platform", testBody("evt-plain", "online", "api"))); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP accepted by the TLS endpoint")
		}
	}
	// A renewed certificate is served without a restart.
	renewedPEM, renewedKey := selfSigned(t)
	if err := os.WriteFile(keyFile, renewedKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, renewedPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute) // a new mtime even on a coarse file system clock
	_ = os.Chtimes(certFile, later, later)
	_ = os.Chtimes(keyFile, later, later)
	renewedPool := x509.NewCertPool()
	renewedPool.AppendCertsFromPEM(renewedPEM)
	conn, err := tls.Dial("tcp", srv.Addr(), &tls.Config{RootCAs: renewedPool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("the renewed certificate is not served: %v", err)
	}
	conn.Close()
	if _, err := NewServer(http.NotFoundHandler(), ServerOptions{Addr: "127.0.0.1:0", TLSCert: certFile, TLSKey: certFile}); err == nil {
		t.Fatal("a certificate file as key was accepted")
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		Subject:   pkix.Name{CommonName: "gateway-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		SerialNumber: serial(t), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func serial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
