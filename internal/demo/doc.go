// Package demo is `make demo`: on the two local regions it turns two data islands into one global
// cloud and proves, with checks against its own model of every write, that either region then
// serves every member.
//
// The story, one file per step:
//
//	schema.go    keyspaces demo_island (one per region: that region's members) and demo_global
//	             (the merged data, in both regions); four datasets with their resolvers
//	seed.go      members of the Americas in us-east-1, of Europe in eu-west-1, travellers in both,
//	             planted inconsistencies in preferences
//	traffic.go   the application: writes through dualwrite and cachesync, recorded in the model
//	migrate.go   forklift plan --sample, run (each island into the global keyspace of both
//	             regions), a second pass once the migration-phase traffic stops, verify
//	evacuate.go  global phase, then us-east-1's Cassandra and memcached killed; every member read
//	             from eu-west-1 and checked; the region restarted and caught up
//	model.go     what every member's data must be, computed without the merge package
//	report.go    the report: the text summary and report.json
//	timeline.go  what happened when: phases, faults and series sampled every second, in report.json
//	html.go      the report page, rendered from report.json alone (chart.go: its SVG charts)
//	browser.go   the page checked in headless Chromium, and its screenshots
package demo
