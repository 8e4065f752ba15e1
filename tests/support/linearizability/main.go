// Command checker: per-order linearizability of a command history, checked by porcupine.
//
// Only an adapter: it reads the history that tests/support/linearizability.py writes,
// states the sequential model of one order ("a version register with compare-and-set")
// and hands both to porcupine (github.com/anishathalye/porcupine), which does the search.
//
// Model, per order (porcupine partitions the history by order id): the state is the
// order's version, 0 while it does not exist.
//
//   - place: 0 -> 1 (only if the order does not exist; an If-Match other than "0" never applies)
//   - change with If-Match e: e -> e+1 (compare-and-set), refused with 412 at any other version
//   - change without If-Match: v -> v+1 for any existing v
//   - 200/201 with version n: the step was applied and n is the new version
//   - 412 / 409 with version v: not applied, the order was at v (412: v differs from If-Match;
//     409: it exists; a 409 on a change with If-Match e also means v = e)
//   - 404 on a change: not applied, the order did not exist (version 0)
//   - unknown (timeout, 202, 5xx, transport error): applied or not — the step has both
//     successors (porcupine.NondeterministicModel), and it returns after everything else.
//
// Usage: checker -history h.json [-timeout 60s] [-html failure.html]
// Exit status: 0 linearizable, 1 not linearizable, 2 unknown (timed out) or bad input.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// One command, as the Python wrapper writes it.
type record struct {
	Key     string `json:"key"`
	Order   string `json:"order"`
	Kind    string `json:"kind"`    // "place" or "change"
	Command string `json:"command"` // place, modify, pay … (for the description only)
	Expect  *int   `json:"expect"`  // the If-Match version sent, null for none
	Call    int64  `json:"call"`    // ns, first attempt sent
	Return  *int64 `json:"return"`  // ns, last attempt done; null when the fate is unknown
	Result  string `json:"result"`  // "ok", "refused" or "unknown"
	Status  string `json:"status"`  // last attempt's HTTP status or transport error
	Version *int   `json:"version"` // ok: the new version; refused: the version reported
}

// meta travels with each operation: its order (the partition) and Idempotency-Key.
type meta struct {
	Order, Key string
}

type history struct {
	Ops []record `json:"ops"`
}

// input and output are comparable values (porcupine keeps them in interface{}).
type input struct {
	Place   bool
	Expect  int // -1: no If-Match
	Command string
}

type output struct {
	Result  string
	Status  string
	Version int // -1: not reported
}

func applies(state int, in input) bool {
	if in.Place {
		return state == 0 && (in.Expect == -1 || in.Expect == 0)
	}
	return state > 0 && (in.Expect == -1 || in.Expect == state)
}

func step(s interface{}, i interface{}, o interface{}) []interface{} {
	state, in, out := s.(int), i.(input), o.(output)
	switch out.Result {
	case "ok":
		if applies(state, in) && out.Version == state+1 {
			return []interface{}{state + 1}
		}
		return nil
	case "refused":
		if out.Version >= 0 && out.Version != state {
			return nil
		}
		switch out.Status {
		case "412":
			if in.Expect == -1 || in.Expect == state {
				return nil
			}
		case "404":
			if in.Place || state != 0 {
				return nil
			}
		case "409":
			if state == 0 || (!in.Place && in.Expect != -1 && in.Expect != state) {
				return nil
			}
		}
		return []interface{}{state}
	default: // unknown: it may have been applied, or not
		if applies(state, in) {
			return []interface{}{state, state + 1}
		}
		return []interface{}{state}
	}
}

func describe(i interface{}, o interface{}) string {
	in, out := i.(input), o.(output)
	op := in.Command
	if in.Expect >= 0 {
		op += fmt.Sprintf(" if-match %d", in.Expect)
	}
	switch {
	case out.Result == "ok":
		return fmt.Sprintf("%s -> %s v%d", op, out.Status, out.Version)
	case out.Result == "refused" && out.Version >= 0:
		return fmt.Sprintf("%s -> %s at v%d", op, out.Status, out.Version)
	case out.Result == "refused":
		return fmt.Sprintf("%s -> %s", op, out.Status)
	}
	return fmt.Sprintf("%s -> ? (%s)", op, out.Status)
}

// byOrder partitions the operations by order id; orders (and ops within one) in a stable order.
func byOrder(ops []porcupine.Operation) [][]porcupine.Operation {
	index := map[string]int{}
	var parts [][]porcupine.Operation
	for _, op := range ops {
		order := op.Metadata.(meta).Order
		i, seen := index[order]
		if !seen {
			i = len(parts)
			index[order] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	return parts
}

var model = porcupine.NondeterministicModel{
	Partition:         byOrder,
	Init:              func() []interface{} { return []interface{}{0} },
	Step:              step,
	Hash:              func(s interface{}) uint64 { return uint64(s.(int)) },
	DescribeOperation: describe,
	DescribeState:     func(s interface{}) string { return fmt.Sprintf("v%d", s.(int)) },
}

func operations(h history) ([]porcupine.Operation, error) {
	var last int64
	for _, r := range h.Ops {
		if r.Call > last {
			last = r.Call
		}
		if r.Return != nil && *r.Return > last {
			last = *r.Return
		}
	}
	never := last + 1 // an unknown op returns after everything else
	// Lanes per order for the visualization: an op takes the first lane free at its call.
	sorted := append([]record(nil), h.Ops...)
	sort.SliceStable(sorted, func(a, b int) bool { return sorted[a].Call < sorted[b].Call })
	lanes := map[string][]int64{}
	ops := make([]porcupine.Operation, 0, len(sorted))
	for _, r := range sorted {
		if r.Order == "" || strings.Contains(r.Order, " ") {
			return nil, fmt.Errorf("%s: bad order id %q", r.Key, r.Order)
		}
		in := input{Place: r.Kind == "place", Expect: -1, Command: r.Command}
		if r.Kind != "place" && r.Kind != "change" {
			return nil, fmt.Errorf("%s: unknown kind %q", r.Key, r.Kind)
		}
		if r.Expect != nil {
			in.Expect = *r.Expect
		}
		out := output{Result: r.Result, Status: r.Status, Version: -1}
		if r.Version != nil {
			out.Version = *r.Version
		}
		ret := never
		switch r.Result {
		case "ok", "refused":
			if r.Return == nil {
				return nil, fmt.Errorf("%s: a %s op needs a return time", r.Key, r.Result)
			}
			if r.Result == "ok" && r.Version == nil {
				return nil, fmt.Errorf("%s: an ok op needs its version", r.Key)
			}
			ret = *r.Return
		case "unknown":
		default:
			return nil, fmt.Errorf("%s: unknown result %q", r.Key, r.Result)
		}
		if ret < r.Call {
			return nil, fmt.Errorf("%s: returns before it is called", r.Key)
		}
		lane := 0
		for lane < len(lanes[r.Order]) && lanes[r.Order][lane] >= r.Call {
			lane++
		}
		if lane == len(lanes[r.Order]) {
			lanes[r.Order] = append(lanes[r.Order], 0)
		}
		lanes[r.Order][lane] = ret
		ops = append(ops, porcupine.Operation{
			ClientId: lane,
			Input:    in,
			Call:     r.Call,
			Output:   out,
			Return:   ret,
			Metadata: meta{r.Order, r.Key},
		})
	}
	return ops, nil
}

func main() {
	path := flag.String("history", "", "the history (JSON)")
	timeout := flag.Duration("timeout", 60*time.Second, "give up (exit 2) after this long")
	html := flag.String("html", "", "write porcupine's visualization of the failing orders here")
	flag.Parse()
	raw, err := os.ReadFile(*path)
	if err != nil {
		fmt.Println("bad input:", err)
		os.Exit(2)
	}
	var h history
	if err := json.Unmarshal(raw, &h); err != nil {
		fmt.Println("bad input:", err)
		os.Exit(2)
	}
	ops, err := operations(h)
	if err != nil {
		fmt.Println("bad input:", err)
		os.Exit(2)
	}
	m := model.ToModel()
	m.DescribeOperationMetadata = func(info interface{}) string { return info.(meta).Key }
	parts := byOrder(ops)
	unknown := 0
	for _, r := range h.Ops {
		if r.Result == "unknown" {
			unknown++
		}
	}
	started := time.Now()
	result, info := porcupine.CheckOperationsVerbose(m, ops, *timeout)
	took := time.Since(started)
	fmt.Printf("porcupine %s: %d ops (%d unknown) on %d orders in %s\n",
		result, len(ops), unknown, len(parts), took.Round(time.Microsecond))
	switch result {
	case porcupine.Ok:
		os.Exit(0)
	case porcupine.Unknown:
		fmt.Printf("timed out after %s: neither proved nor refuted\n", *timeout)
		os.Exit(2)
	}
	// Not linearizable: the orders without a complete linearization, and their ops.
	var failing []porcupine.Operation
	partials := info.PartialLinearizations()
	shown := 0
	for i, part := range parts {
		longest := 0
		for _, p := range partials[i] {
			if len(p) > longest {
				longest = len(p)
			}
		}
		if longest == len(part) {
			continue
		}
		failing = append(failing, part...)
		shown++
		if shown > 20 {
			continue
		}
		fmt.Printf("order %s: no linearization (longest prefix %d of %d ops):\n",
			part[0].Metadata.(meta).Order, longest, len(part))
		for _, op := range part {
			ret := "never"
			if op.Output.(output).Result != "unknown" {
				ret = fmt.Sprintf("%.3f", float64(op.Return-part[0].Call)/1e9)
			}
			fmt.Printf("  [%.3f, %s] %s  (%s)\n", float64(op.Call-part[0].Call)/1e9, ret,
				describe(op.Input, op.Output), op.Metadata.(meta).Key)
		}
	}
	if shown > 20 {
		fmt.Printf("… and %d more orders\n", shown-20)
	}
	if *html != "" {
		// Only the failing orders: the whole history would make a page too large to open.
		_, sub := porcupine.CheckOperationsVerbose(m, failing, *timeout)
		if err := porcupine.VisualizePath(m, sub, *html); err != nil {
			fmt.Println("visualization not written:", err)
		} else {
			fmt.Println("visualization:", *html)
		}
	}
	os.Exit(1)
}
