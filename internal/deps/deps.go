//go:build tools

// Package deps pins the modules the packages of islands are built on, so go.mod holds them before
// the code that imports them lands. It is never compiled into a program.
package deps

import (
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/service/sqs"
	_ "github.com/bradfitz/gomemcache/memcache"
	_ "github.com/gocql/gocql"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/term"
	_ "gopkg.in/yaml.v3"
)
