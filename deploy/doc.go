// Package deploy holds no code a program links: it is the home of the deployment files (Dockerfiles
// under docker/, Kubernetes manifests under kubernetes/, the Grafana dashboard under grafana/) and
// of their tests, in a module of its own so that the Kubernetes and Prometheus modules the tests
// decode with never enter the product's go.mod.
//
// What the tests check (see docs/deploy.md for what they cannot):
//   - every manifest decodes strictly into its Kubernetes API type (k8s.io/api, the Prometheus
//     Operator's monitoring/v1): an unknown or misspelt field fails;
//   - the pods run as non-root with a read-only root file system, no privilege escalation and
//     every capability dropped; Secrets are mounted as files, never passed in the environment;
//   - the forklift Job is Indexed and its --shard-from-env count equals its completions;
//   - every alert expression and every dashboard query parses with the PromQL parser, and each
//     alert has a unit test that makes it fire and one that keeps it quiet;
//   - metrics.txt lists exactly the metrics the alerts and panels use; the integration test
//     TestDeploy in integration/deploy_test.go checks the real programs serve each of them;
//   - the Dockerfiles are multi-stage, build a static binary and run it as a numeric non-root user.
package deploy
