package gateway

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// certReloader serves the certificate in a pair of PEM files and loads it
// again when either file changes, so a renewed certificate is used without
// a restart. A pair that does not load (caught mid-write) keeps the last
// good certificate until the next handshake looks again.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime [2]time.Time
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	mods, err := r.modTimes()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("gateway TLS: %w", err)
	}
	r.cert, r.modTime = &cert, mods
	return r, nil
}

func (r *certReloader) modTimes() ([2]time.Time, error) {
	var mods [2]time.Time
	for i, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return mods, fmt.Errorf("gateway TLS: %w", err)
		}
		mods[i] = st.ModTime()
	}
	return mods, nil
}

// getCertificate implements tls.Config.GetCertificate.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if mods, err := r.modTimes(); err == nil && mods != r.modTime {
		if cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile); err == nil {
			r.cert, r.modTime = &cert, mods
		}
	}
	return r.cert, nil
}
