// Package world is the local multi-region world of scripts/regions as tests, benchmarks and the demo
// see it: the ISLANDS_* environment (Env), the WAN between the regions (WAN, a Toxiproxy client:
// distance per region pair, partition, isolation of one region, heal) and an application's view of
// the global Cassandra cluster from one region (Env.GlobalCluster: its own datacenter directly,
// every other region's node through that pair's WAN address via a gocql AddressTranslator).
//
// The world (scripts/regions; README "The local regions"):
//
//	us-east-1: global cluster node (DC us-east-1), memcached, ElasticMQ
//	eu-west-1: global cluster node (DC eu-west-1), the EU island (its own cluster), memcached, ElasticMQ
//	us-west-2: global cluster node (DC us-west-2), memcached, ElasticMQ
//	WAN:       Toxiproxy: one inbound storage proxy per global node (its broadcast address), and one
//	           CQL and one SQS proxy per directed pair of regions
//
// Every per-region lookup (Env.GlobalCQL, Env.SQS, Env.Memcached, Env.Queue, Env.Translator) is a
// table over Regions, so a region is added by adding its row, not by editing a switch.
//
// Invariants:
//   - Every cross-region path goes through the WAN: the global cluster's inter-DC messages (each
//     node's broadcast address is its proxy), an application's CQL connections to another region
//     (Env.Translator) and SQS sends to another region's server (Env.SQS). A path within a
//     region never does.
//   - Distances: each region has one delay d (Delays); a pair's RTT is d(a) + d(b) on every path:
//     a Cassandra message crosses the receiver's inbound proxy and its reply the asker's (internode
//     connections are one-way); a client path's proxy carries the pair's RTT over its two
//     directions. SeedDelays (5, 70, 60 ms) gives the seeds' 65/75/130 ms exactly; one way, a
//     Cassandra message into region R waits d(R) whatever its sender (not RTT/2). WAN.Set gives
//     every region the same delay (the earlier symmetric WAN).
//   - A partition cuts every cross-region path at once; Isolate cuts exactly the paths reaching or
//     leaving the given regions; a heal restores them with the delays they had. Link reads the
//     whole state back, and Apply restores a state Link read.
package world
