// Package cql is the gocql-facing CQL plumbing forklift needs: a table's shape read from
// system_schema, whether two column types hold the same bytes, identifiers quoted, and values
// carried as their raw serialisation (Raw) so any type passes through gocql untouched. The bytes
// themselves are package codec's.
package cql
