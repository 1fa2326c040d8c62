// Package world is the local multi-region world of scripts/regions as tests, benchmarks and the demo
// see it: the ISLANDS_* environment (Env), the WAN between the regions (WAN, a Toxiproxy client:
// distance, partition, heal) and an application's view of the global Cassandra cluster from one
// region (Env.GlobalCluster: its own datacenter directly, the other region's node through the WAN via
// a gocql AddressTranslator).
//
// The world (scripts/regions; README "The local regions"):
//
//	us-east-1: global cluster node (DC us-east-1), memcached, ElasticMQ
//	eu-west-1: global cluster node (DC eu-west-1), the EU island (its own cluster), memcached, ElasticMQ
//	WAN:       one Toxiproxy listener per cross-region path, on the WAN address of what it reaches
//
// Invariants:
//   - Every cross-region path goes through the WAN: the global cluster's inter-DC messages (each
//     node's broadcast address is its proxy), an application's CQL connections to the other region
//     (Env.Translator) and SQS sends to the other region's server (Env.SQS). A path within a
//     region never does.
//   - The WAN is symmetric: WAN.Set gives each direction of every cross-region TCP stream the same
//     one-way delay and jitter; a partition cuts every cross-region path at once, and a heal
//     restores them with the delay they had.
package world
