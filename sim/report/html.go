package report

import (
	"fmt"
	"strings"
)

// pageCSS is inlined so the page opens anywhere, mailed or archived by CI.
const pageCSS = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:20px;color:#202124;background:#fff}
h1{font-size:22px;margin:0 0 6px}h2{font-size:18px;margin:28px 0 6px}h3{font-size:15px;margin:18px 0 4px}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600}
.ok{background:#2e9e44}.fail{background:#d63a2f}.incomplete{background:#f29d12}
.summary{color:#5f6368;margin:4px 0 10px}
.legend{display:flex;flex-wrap:wrap;gap:14px;margin:6px 0;font-size:12px;color:#3c4043}
.sw{display:inline-block;width:14px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.chartbox{overflow-x:auto;border:1px solid #dadce0;border-radius:6px;padding:4px;margin:6px 0}
svg.chart{display:block;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
svg .grid{stroke:#e8eaed;stroke-width:1}
svg .tick{font-size:10px;fill:#5f6368}
svg .lane{font-size:11px;fill:#5f6368;font-style:italic}
svg .node{font-size:12px;fill:#202124;font-weight:600}
svg .seg{font-size:11px;fill:#fff;pointer-events:none}
svg .num{font-size:9px;fill:#fff;font-weight:700;pointer-events:none}
svg .steplabel{font-size:11px}
svg .stepline{stroke-width:1;stroke-dasharray:3 3;opacity:.6}
svg .stepthin{stroke:#80868b;stroke-width:1;stroke-dasharray:2 4}
svg .violline{stroke:#d63a2f;stroke-width:2;opacity:.8}
svg .viol{fill:#d63a2f;stroke:#fff;stroke-width:1}
svg .violdot{fill:#fff;stroke:#d63a2f;stroke-width:3}
svg .full{stroke:#202124;stroke-width:1;stroke-dasharray:6 4}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
th,td{border-bottom:1px solid #e8eaed;padding:3px 10px;text-align:left;vertical-align:top}
th{background:#f1f3f4;font-weight:600}
td.t{font-variant-numeric:tabular-nums;white-space:nowrap;text-align:right}
tr.bad td{background:#fce8e6}
.violations{border:2px solid #d63a2f;border-radius:6px;padding:4px 12px;background:#fff7f6}
.violations h3{color:#d63a2f}
.note{color:#5f6368;font-size:12px}
footer{margin-top:30px;color:#80868b;font-size:12px}
`

// page renders the whole document.
func page(title string, runs []*run, nLines int) string {
	var sb strings.Builder
	sb.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	fmt.Fprintf(&sb, "<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n", esc(title), pageCSS)
	fmt.Fprintf(&sb, "<header><h1>%s</h1>\n%s</header>\n", esc(title), overallVerdict(runs))
	for i, r := range runs {
		writeRun(&sb, r, i+1, len(runs))
	}
	fmt.Fprintf(&sb, "<footer>vipfarm simulator report: %d trace lines, %d run(s). Times are virtual.</footer>\n</body>\n</html>\n", nLines, len(runs))
	return sb.String()
}

func overallVerdict(runs []*run) string {
	failed, incomplete := 0, 0
	for _, r := range runs {
		switch {
		case r.result == nil:
			incomplete++
		case !r.result.ok:
			failed++
		}
	}
	switch {
	case failed > 0:
		return fmt.Sprintf(`<p><span class="verdict fail">FAILED</span> %d of %d run(s) failed</p>`+"\n", failed, len(runs))
	case incomplete > 0:
		return `<p><span class="verdict incomplete">INCOMPLETE</span> the trace ends without a result line</p>` + "\n"
	}
	return `<p><span class="verdict ok">OK</span> every expectation met, no invariant violated</p>` + "\n"
}

func runVerdict(r *run) string {
	switch {
	case r.result == nil:
		return `<span class="verdict incomplete">INCOMPLETE</span>`
	case r.result.ok:
		return `<span class="verdict ok">OK</span>`
	}
	return `<span class="verdict fail">FAILED</span>`
}

func writeRun(sb *strings.Builder, r *run, k, of int) {
	a := newAxis(r.lastMs)
	sb.WriteString("<section>\n")
	heading := "Run"
	if of > 1 {
		heading = fmt.Sprintf("Run %d of %d", k, of)
	}
	seed := ""
	if r.result != nil && r.result.seed != "" {
		seed = ", seed " + esc(r.result.seed)
	}
	fmt.Fprintf(sb, "<h2>%s%s %s</h2>\n", heading, seed, runVerdict(r))

	failedExp := 0
	for _, e := range r.expects {
		if !e.ok {
			failedExp++
		}
	}
	viol := fmt.Sprintf("%d violation(s)", len(r.violations))
	if r.result != nil && r.result.hasCount && r.result.violations != len(r.violations) {
		// The simulator may cap the violation lines it writes; say so.
		viol = fmt.Sprintf("%d violation(s) (%d listed in the trace)", r.result.violations, len(r.violations))
	}
	fmt.Fprintf(sb, `<p class="summary">%d node(s), %d step(s), %d expectation(s) (%d failed), %s, virtual duration %s.</p>`+"\n",
		len(r.nodes), len(r.steps), len(r.expects), failedExp, viol, fmtMs(r.lastMs))

	sb.WriteString(`<div class="legend">` +
		swatch(colourGreen, "UP ready") + swatch(colourOrange, "UP / WAIT transient") +
		swatch(colourRed, "STOP, WAIT not ready (rule)") + swatch(colourGrey, "crashed") +
		swatch(colourCmd, "command step") + swatch(colourFault, "fault step") +
		`<span>&#9670; expectation (green met, red failed)</span><span style="color:#d63a2f">&#9650; invariant violation</span></div>` + "\n")
	fmt.Fprintf(sb, "<div class=\"chartbox\">\n%s</div>\n", timelineSVG(r, a))

	for _, g := range r.groups {
		fmt.Fprintf(sb, "<h3>Group %s: buckets claimed per node (of %d)</h3>\n<div class=\"legend\">", esc(g.name), buckets)
		for i, n := range r.nodes {
			sb.WriteString(swatch(nodeColour(i), n.name))
		}
		sb.WriteString(`<span>- - - 256: above it, two nodes claim the same bucket</span></div>` + "\n")
		fmt.Fprintf(sb, "<div class=\"chartbox\">\n%s</div>\n", areaSVG(r, g, a))
	}

	if len(r.violations) > 0 {
		sb.WriteString("<div class=\"violations\">\n<h3>Invariant violations</h3>\n<table>\n<tr><th>time</th><th>invariant</th><th>node</th><th>detail</th></tr>\n")
		for _, v := range r.violations {
			fmt.Fprintf(sb, "<tr class=\"bad\"><td class=\"t\">%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", fmtMs(v.tMs), esc(v.invariant), esc(v.node), esc(v.detail))
		}
		sb.WriteString("</table>\n</div>\n")
	}
	writeFinal(sb, r)
	if len(r.steps) > 0 {
		sb.WriteString("<h3>Steps</h3>\n<table>\n<tr><th>#</th><th>time</th><th>kind</th><th>do</th></tr>\n")
		for _, s := range r.steps {
			kind := "command"
			if s.fault {
				kind = "fault"
			}
			fmt.Fprintf(sb, "<tr><td class=\"t\">%d</td><td class=\"t\">%s</td><td>%s</td><td><code>%s</code></td></tr>\n", s.n, fmtMs(s.tMs), kind, esc(s.do))
		}
		sb.WriteString("</table>\n")
	}
	if len(r.expects) > 0 {
		sb.WriteString("<h3>Expectations</h3>\n<table>\n<tr><th>time</th><th>verdict</th><th>node</th><th>detail</th></tr>\n")
		for _, e := range r.expects {
			cls, verdict := "", "met"
			if !e.ok {
				cls, verdict = ` class="bad"`, "FAILED"
			}
			fmt.Fprintf(sb, "<tr%s><td class=\"t\">%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", cls, fmtMs(e.tMs), verdict, esc(e.node), esc(e.detail))
		}
		sb.WriteString("</table>\n")
	}
	if r.unknownN > 0 {
		fmt.Fprintf(sb, "<p class=\"note\">%d line(s) with events this report does not know were skipped: %s.</p>\n", r.unknownN, esc(strings.Join(r.unknown, ", ")))
	}
	sb.WriteString("</section>\n")
}

// writeFinal is the state of every node at the end of the run, with its
// share of each group as the SafeKit console shows it (count × 100 / 256).
func writeFinal(sb *strings.Builder, r *run) {
	if len(r.nodes) == 0 {
		return
	}
	sb.WriteString("<h3>At the end</h3>\n<table>\n<tr><th>node</th><th>state</th>")
	for _, g := range r.groups {
		fmt.Fprintf(sb, "<th>%s</th>", esc(g.name))
	}
	sb.WriteString("</tr>\n")
	for _, n := range r.nodes {
		fmt.Fprintf(sb, "<tr><td>%s</td><td>%s%s</td>", esc(n.name), swatch(stateColour(n.final), ""), esc(stateLabel(n.final)))
		for _, g := range r.groups {
			c := g.countAt(n.name, r.lastMs)
			fmt.Fprintf(sb, "<td class=\"t\">%d/%d (%d%%)</td>", c, buckets, (c*100+buckets/2)/buckets)
		}
		sb.WriteString("</tr>\n")
	}
	sb.WriteString("</table>\n")
}

func swatch(colour, label string) string {
	s := fmt.Sprintf(`<span class="sw" style="background:%s"></span>`, colour)
	if label == "" {
		return s
	}
	return "<span>" + s + esc(label) + "</span>"
}
