// Package viewinghistory is the example of a custom merge resolver: a member's viewing history,
// merged per title by the furthest watched position and capped to the most recently watched titles.
// It registers itself in merge's registry under Name when linked, so a forklift program that imports
// it (cmd/forklift does, with a blank import) selects it from YAML like a built-in:
//
//	tables:
//	  - keyspace: demo_island
//	    table: viewing_history
//	    destination_keyspace: demo_global
//	    resolver: viewing-history
//	    options: {title-key: 0, position: position, time: watched_at, cap: 50}
//
// The demo (internal/lab/demo) merges its viewing_history table with it, and merge's table,
// property, fuzz and benchmark tests link it to run it beside the built-ins. A program of one's own
// registers its resolvers the same way: a package whose init calls merge.Register.
//
// Its options are checked against the table when forklift opens a job (WithSchema, merge.Shaped):
// title-key must index a clustering column, title, position and time must be regular columns; the
// error names the option. Its errors name a row by side and place, never by its key (member data).
package viewinghistory
