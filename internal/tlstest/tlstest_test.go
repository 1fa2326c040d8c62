package tlstest

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// TestCA: the PEM holds one CA certificate that a certificate pool takes.
func TestCA(t *testing.T) {
	b, _ := pem.Decode(CA(t))
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %v", b)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil || !c.IsCA {
		t.Fatalf("certificate %v, CA %v", err, c != nil && c.IsCA)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(CA(t)) {
		t.Fatal("a cert pool refuses it")
	}
}
