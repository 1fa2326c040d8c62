// Package lab is the root of the lab: the local regions, the demo and the fault campaign, beside the
// product and above it. It holds the Region handle: one region of the world as a program running in
// it holds it (its sessions on the global cluster, memcached, SQS clients, and its cache side:
// publishers, cachesync client, agent), opened with Open or OpenAll and closed with Close, so a
// program of the lab keeps one handle per region instead of one array slot per region. Its
// packages are
//
//	world            the world of scripts/regions as programs see it: the ISLANDS_* environment, the WAN
//	                 (Toxiproxy), each region's view of the global cluster and its SQS clients
//	health           an agent's /healthz as the campaign and the integration tests poll it
//	demo             the end-to-end demo (make demo): the EU island merged into the global cloud
//	chaos            the seeded fault campaign and its checker (make chaos)
//	cmd/islands-lab  the lab's program: probe, roles, wan (scripts/regions), demo, chaos, report
//
// Invariants (layers_test.go checks them with go list):
//   - The product never imports the lab: dualwrite, forklift, merge, cachesync, cqlconn, the
//     foundations under internal/ and the product's programs under cmd/ (forklift, cachesync and the
//     operator's islands) link no package of internal/lab, neither do their tests.
//   - A product program links only what its job needs: cmd/forklift links no browser driver, AWS SDK,
//     memcached client, dualwrite or cachesync; cmd/islands (replay inspect|retry|drop) links no
//     browser driver, AWS SDK, memcached client or cachesync.
//   - The lab imports the product like any application would: through its exported API.
package lab
