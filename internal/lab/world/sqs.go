package world

import (
	"context"
	"fmt"
	"net"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// SQSClient is the one place the programs of this repository that are not the cachesync agent
// (the demo, the chaos campaign and its writers, the benches) get an SQS client for endpoint in
// region. A loopback endpoint is the local world's ElasticMQ: ElasticMQ does not check
// credentials, so requests go unsigned (aws.AnonymousCredentials) and nothing of the user's AWS
// setup is read or sent. Any other endpoint ("" = AWS's own for region) is a real SQS: production
// uses the SDK's default credential chain (environment, shared config, instance role), as
// cmd/cachesync does unless told -anonymous.
func SQSClient(ctx context.Context, region, endpoint string) (*sqs.Client, error) {
	if LoopbackEndpoint(endpoint) {
		// ElasticMQ does not check credentials; production uses the SDK's default chain.
		return sqs.New(sqs.Options{Region: region, BaseEndpoint: aws.String(endpoint), Credentials: aws.AnonymousCredentials{}}), nil
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("world: AWS config for SQS at %q: %w", endpoint, err)
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// LoopbackEndpoint reports whether endpoint (a URL, or host:port) is on this machine's loopback
// (127.0.0.0/8, ::1 or localhost): the local world, never a real SQS.
func LoopbackEndpoint(endpoint string) bool {
	host := endpoint
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		host = u.Host
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
