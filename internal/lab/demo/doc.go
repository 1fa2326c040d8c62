// Package demo is `make demo`: on the local three-region world (scripts/regions: a global
// Cassandra cluster with datacenters us-east-1, eu-west-1 and us-west-2, the EU island cluster,
// memcached and SQS per region, a WAN between the regions) it follows the seeds' migration — the EU
// island merged into the Americas keyspace (us-east-1 and us-west-2), which Cassandra then
// replicates to eu-west-1 too — and proves, with checks against its own model of every write, that
// the regions then serve every member, also while us-east-1 is evacuated.
//
// The story, one file per step:
//
//	schema.go    the Americas island (keyspace demo_global in the global cluster, replicated in
//	             us-east-1 and us-west-2) and the EU island (demo_island in its own cluster); the
//	             extension of demo_global to eu-west-1 (ALTER KEYSPACE, nodetool rebuild)
//	seed.go      members of the Americas in the Americas island, of Europe in the EU island,
//	             travellers in both, planted inconsistencies in preferences
//	control.go   the EU application as three instances, each a dualwrite session WithMigration;
//	             the operator moves them through the control plane (migration.Change + Wait, what
//	             `islands migration set --wait` runs); each instance's flips on the timeline
//	traffic.go   the applications: the EU instances dual-write the island and the global cluster
//	             (their own datacenter), the Americas one writes the global cluster; all write
//	             through cachesync; every acknowledged write recorded in the model
//	distance.go  the figures under distance, each next to the same figure at 0 ms: cross-DC
//	             visibility per pair of regions, cache lag, the dual-write latency, forklift rows/s
//	migrate.go   forklift plan --sample, run (the EU island into demo_global through eu-west-1,
//	             gated on the migration's fleet), a second pass once the traffic stops, verify
//	evacuate.go  reads flip to the global keyspace and the island is retired; then us-east-1 is
//	             isolated (a WAN partition of that region) and its Cassandra and memcached killed;
//	             its members split by capacity between eu-west-1 and us-west-2 (knobs.go:
//	             Options.EvacuationShare), each member read from the region that took it and
//	             checked; the region healed, restarted, hinted and repaired, and checked
//	knobs.go     every size and duration the short mode changes, in one place; the evacuation's
//	             share and the YAML config
//	roles.go     who connects as whom: the admin role for the demo's scaffolding and probes, the
//	             app role for the applications and the member checks, the forklift role for
//	             forklift; the GRANTs the admin gives after creating each keyspace
//	model.go     what every member's data must be, computed without the merge package
//	report.go    the report: the text summary and report.json
//	timeline.go  what happened when: phases, faults, each instance's phases and series sampled
//	             every second, in report.json
//	html.go      the report page, rendered from report.json alone (chart.go: its SVG charts)
//	browser.go   the page checked in headless Chromium, and its screenshots
//
// The viewing history is merged by the example custom resolver, examples/viewinghistory, which
// forklift's program links too. The demo is part of the lab (internal/lab): it imports the product,
// never the other way round; `islands-lab demo` (internal/lab/cmd/islands-lab) runs it.
package demo
