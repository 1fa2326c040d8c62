// Package cql holds the CQL plumbing that islands' I/O packages share: quoting identifiers, reading a
// table's shape from system_schema, deciding whether two column types hold the same bytes, and
// carrying values as their raw CQL serialisation so any type passes through untouched.
package cql
