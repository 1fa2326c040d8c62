package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/globalcloud/islands/internal/handoff"
)

// shared prints `islands replay shared MIGRATION`: the handed-off backlog in the control keyspace.
func shared(ctx context.Context, name, keyspace string, limit int, w io.Writer) error {
	addr := os.Getenv("ISLANDS_CONTROL_CQL")
	if addr == "" {
		addr = os.Getenv("ISLANDS_GLOBAL_US_CQL")
	}
	if addr == "" {
		return fmt.Errorf("replay shared: no control cluster: set ISLANDS_CONTROL_CQL (or eval \"$(scripts/regions env)\")")
	}
	sess, err := dialControl(strings.Split(addr, ","))
	if err != nil {
		return err
	}
	defer sess.Close()
	st := handoff.NewCQLStore(sess, keyspace)
	bs, err := st.Batches(ctx, name)
	if err != nil {
		return fmt.Errorf("replay shared: reading %s.handoff_batches: %w", keyspace, err)
	}
	per := map[string]int64{}
	for _, b := range bs {
		per[b.Side] += int64(b.Entries)
	}
	fmt.Fprintf(w, "handed-off backlog of %s in %s: primary %d, secondary %d (%d batches)\n", name, keyspace, per["primary"], per["secondary"], len(bs))
	if len(bs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BATCH\tSIDE\tENTRIES\tORIGIN\tHOLDER\tAGE")
	for i, b := range bs {
		if limit > 0 && i >= limit {
			fmt.Fprintf(tw, "… %d more\n", len(bs)-i)
			break
		}
		holder := b.Holder
		if holder == "" {
			holder = "- (adoptable)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", b.ID, b.Side, b.Entries, b.Origin, holder, time.Since(b.Created).Round(time.Second))
	}
	return tw.Flush()
}
