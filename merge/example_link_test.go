package merge_test

// The example package registers the viewing-history resolver, the example of a custom resolver;
// linking it here keeps it under this package's table, property, fuzz and benchmark tests.
import _ "github.com/globalcloud/islands/examples/viewinghistory"
