package world

import (
	"context"
	"testing"
)

func TestLoopbackEndpoint(t *testing.T) {
	for ep, want := range map[string]bool{
		"http://127.0.5.1:9324":                    true,
		"http://localhost:9324":                    true,
		"http://[::1]:9324":                        true,
		"127.0.0.1:9324":                           true,
		"":                                         false, // AWS's own endpoint
		"https://sqs.us-east-1.amazonaws.com":      false,
		"http://10.0.0.5:9324":                     false,
		"http://127.0.0.1.evil.example:9324":       false,
		"http://localhost.evil.example:9324/x?y=1": false,
	} {
		if got := LoopbackEndpoint(ep); got != want {
			t.Errorf("LoopbackEndpoint(%q) = %v, want %v", ep, got, want)
		}
	}
}

// The local world is unsigned; anything else gets the SDK's default chain, never anonymous.
func TestSQSClientCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	ctx := context.Background()
	local, err := SQSClient(ctx, "us-east-1", "http://127.0.5.1:9324")
	if err != nil {
		t.Fatal(err)
	}
	if cr := local.Options().Credentials; cr != nil { // the SDK turns aws.AnonymousCredentials into none
		t.Errorf("loopback endpoint: credentials %T, want none (unsigned)", cr)
	}
	remote, err := SQSClient(ctx, "us-east-1", "https://sqs.us-east-1.amazonaws.com")
	if err != nil {
		t.Fatal(err)
	}
	if remote.Options().Credentials == nil {
		t.Fatal("remote endpoint: no credentials (unsigned), want the SDK's default chain")
	}
	c, err := remote.Options().Credentials.Retrieve(ctx)
	if err != nil || c.AccessKeyID != "AKIDEXAMPLE" {
		t.Errorf("remote endpoint: credentials %q, %v: want the default chain's (environment)", c.AccessKeyID, err)
	}
}
