// Package codec reads and writes values in their CQL native-protocol serialisation (protocol v3+):
// collections split into and joined from their elements, bigint and int decoded, and any value
// rendered for a person. Pure functions over bytes: no gocql, no I/O.
package codec
