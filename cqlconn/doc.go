// Package cqlconn is how islands connects to a Cassandra cluster that runs as production ones do:
// with PasswordAuthenticator and client-to-node TLS. Every program and library entry point of
// islands (forklift, dualwrite.Open's configs built by the programs, the demo, the benches, the
// tests) goes through it, so a cluster is reached the same way everywhere and fails the same way.
//
// Its promises:
//
//   - A password is a Secret. It prints as "[redacted]" through fmt (every verb), encoding/json,
//     encoding (text), YAML output and log/slog, so a config, an error or a log line that carries
//     one never shows it, also from an unexported field of a struct printed whole (the value sits
//     behind a pointer, which fmt prints as an address there). Only Reveal gives the value, and
//     only Apply calls Reveal. Make one with NewSecret.
//   - A password comes from a file (PasswordFile) or an environment variable (PasswordEnv), never
//     from a command-line flag, which every user of the machine can read in ps. A literal Password
//     is accepted from code and from a config file the user protects. An error about PasswordEnv
//     names the variable only when its name says it holds a password (…_PASSWORD, _PW, _SECRET,
//     _TOKEN): anything else may be the password itself, typed in the name's place.
//   - TLS verifies the server: the certificate must chain to CAFile (or the system roots) and name
//     the address dialled. Skipping verification is an explicit, separate choice, which Warnings
//     reports for the program to log.
//   - A password goes only to a server TLS verifies: Validate and Apply refuse it over plain text
//     or unverified TLS (ErrPasswordInClear), before any connection, unless InsecurePassword says
//     otherwise (and Warnings then says so). It is offered only to Cassandra's
//     PasswordAuthenticator unless AllowedAuthenticators names others.
//   - A connection that fails for a reason of access (wrong password, no credentials where the
//     cluster wants them, an unknown CA, plain text to a TLS-only port, TLS to a plain-text port, a
//     role without a permission) comes back from Explain as an error that names the cause and what
//     to change, and still wraps the driver's error. Explain never adds a secret to the message.
//   - CheckGrants lets a program refuse to start, before it writes anything, when its role lacks a
//     permission it needs, naming the permission, the resource and the GRANT that gives it.
//
// The local world (scripts/regions) exports the ISLANDS_CQL_* variables FromEnv reads: the CA and
// one user and password file per role (admin, app, forklift).
package cqlconn
