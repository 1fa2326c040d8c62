package main

// The program carries the example custom resolver (viewing-history, registered by package
// viewinghistory's init) beside merge's built-ins, so examples/forklift.yaml runs as it is. A
// program of one's own links the packages that register its resolvers the same way.
import _ "github.com/globalcloud/islands/examples/viewinghistory"
