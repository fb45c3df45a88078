package report

import (
	"fmt"
	"html"
	"slices"
	"strconv"
	"strings"
)

// Layout of every chart, in SVG user units (CSS pixels).
const (
	chartWidth   = 1200.0
	labelGutter  = 130.0 // node names left of the plot
	rightPad     = 16.0
	axisHeight   = 22.0
	labelRowH    = 13.0 // one row of step labels
	labelRows    = 3
	markerRowH   = 18.0
	checksLaneH  = 22.0
	nodeRowH     = 26.0
	nodeBarH     = 18.0
	areaHeight   = 180.0
	charWidthPx  = 6.2 // mean width of one character at 11px, to fit labels without measuring
	stepRadiusPx = 7.0
)

// SafeKit console colours (SPEC §3), plus grey for a dead process.
const (
	colourGreen  = "#2e9e44"
	colourOrange = "#f29d12"
	colourRed    = "#d63a2f"
	colourGrey   = "#9aa0a6"
	colourCmd    = "#3b6ea5"
	colourFault  = "#6b3fa0"
)

// nodePalette colours the nodes of the area charts; it avoids green, orange
// and red so a share is never mistaken for a state.
var nodePalette = []string{"#4e79a7", "#76b7b2", "#b07aa1", "#edc948", "#9c755f", "#ff9da7", "#59a1c9", "#bab0ac"}

// stateColour follows the SafeKit console: UP ready green; UP or WAIT
// transient orange; STOP and WAIT not ready red; a crashed node grey. As in
// core, a WAIT is "not ready" (red) when a failover rule holds it and
// "transient" (orange) while it waits for resources still in init.
func stateColour(st status) string {
	switch {
	case st.crashed:
		return colourGrey
	case st.state == "UP" && st.ready:
		return colourGreen
	case st.state == "UP" && !st.ready, st.state == "WAIT" && !st.ready && st.rule == "":
		return colourOrange
	}
	return colourRed
}

// stateLabel is the text shown on a timeline stretch and in its tooltip.
func stateLabel(st status) string {
	if st.crashed {
		return "crashed"
	}
	s := st.state
	if st.state == "STOP" && st.ready {
		return s // a settled stop needs no qualifier
	}
	switch {
	case st.ready:
		s += " ready"
	case st.state == "WAIT" && st.rule != "":
		s += " not ready" // held by a failover rule, as core's log says NotReady
	default:
		s += " transient"
	}
	if st.rule != "" {
		s += " (" + st.rule + ")"
	}
	return s
}

// axis maps virtual milliseconds to x.
type axis struct {
	endMs  int64
	stepMs int64 // between ticks
}

func newAxis(lastMs int64) axis {
	if lastMs < 1000 {
		lastMs = 1000
	}
	step := tickStep(lastMs)
	end := (lastMs/step + 1) * step
	return axis{endMs: end, stepMs: step}
}

// tickStep is the smallest of 1, 2, 5, 10, 20, 50, ... ms that puts at
// most 10 ticks on the axis.
func tickStep(lastMs int64) int64 {
	for base := int64(1); ; base *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if lastMs/(base*m) <= 10 {
				return base * m
			}
		}
	}
}

func (a axis) x(tMs int64) float64 {
	return labelGutter + float64(tMs)*(chartWidth-labelGutter-rightPad)/float64(a.endMs)
}

// f formats a coordinate with one decimal, the same on every platform.
func f(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func esc(s string) string { return html.EscapeString(s) }

// fmtMs writes virtual time as seconds: 3s, 3.25s, 0.31s.
func fmtMs(tMs int64) string {
	return strconv.FormatFloat(float64(tMs)/1000, 'f', -1, 64) + "s"
}

// ticks draws the vertical grid and the time labels at y (labels above the
// line when top, below otherwise).
func (a axis) ticks(sb *strings.Builder, yTop, yBottom float64, labelsAtTop bool) {
	for t := int64(0); t <= a.endMs; t += a.stepMs {
		x := f(a.x(t))
		fmt.Fprintf(sb, `<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n", x, f(yTop), x, f(yBottom))
		ly := yBottom + 14
		if labelsAtTop {
			ly = yTop - 6
		}
		fmt.Fprintf(sb, `<text class="tick" x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", x, f(ly), fmtMs(t))
	}
}

// timelineSVG draws steps, expectations, violations and one row per node.
func timelineSVG(r *run, a axis) string {
	var sb strings.Builder
	stepsTop := axisHeight
	markerY := stepsTop + labelRows*labelRowH + markerRowH/2
	checksTop := stepsTop + labelRows*labelRowH + markerRowH
	nodesTop := checksTop + checksLaneH
	nodesBottom := nodesTop + float64(len(r.nodes))*nodeRowH
	height := nodesBottom + axisHeight
	fmt.Fprintf(&sb, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" role="img" aria-label="node timelines">`+"\n",
		f(chartWidth), f(height), f(chartWidth), f(height))
	a.ticks(&sb, stepsTop, nodesBottom, true)
	fmt.Fprintf(&sb, `<text class="lane" x="6" y="%s">steps</text>`+"\n", f(markerY+4))
	fmt.Fprintf(&sb, `<text class="lane" x="6" y="%s">checks</text>`+"\n", f(checksTop+checksLaneH/2+4))

	// Node rows first so markers and lines are drawn over them.
	for i, n := range r.nodes {
		y := nodesTop + float64(i)*nodeRowH + (nodeRowH-nodeBarH)/2
		fmt.Fprintf(&sb, `<text class="node" x="6" y="%s">%s</text>`+"\n", f(y+nodeBarH-5), esc(n.name))
		for _, s := range n.segments(a.endMs) {
			x0, x1 := a.x(s.startMs), a.x(s.endMs)
			label := stateLabel(s.st)
			fmt.Fprintf(&sb, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s: %s from %s to %s</title></rect>`+"\n",
				f(x0), f(y), f(x1-x0), f(nodeBarH), stateColour(s.st), esc(n.name), esc(label), fmtMs(s.startMs), fmtMs(s.endMs))
			if text := fitText(label, x1-x0-6); text != "" {
				fmt.Fprintf(&sb, `<text class="seg" x="%s" y="%s">%s</text>`+"\n", f(x0+3), f(y+nodeBarH-5), esc(text))
			}
		}
	}

	// Steps: a dashed line through the node rows, a numbered disc, and the
	// text on the first label row that has room for it.
	var rowEnd [labelRows]float64
	prevMs := int64(-1)
	shift := 0.0
	for _, s := range r.steps {
		x := a.x(s.tMs)
		// Steps at one instant (start node1, start node2 at 0s) get their
		// discs side by side so every number stays readable.
		if s.tMs == prevMs {
			shift += 2*stepRadiusPx + 1
		} else {
			shift = 0
		}
		prevMs = s.tMs
		colour := colourCmd
		if s.fault {
			colour = colourFault
		}
		fmt.Fprintf(&sb, `<line class="stepline" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`+"\n", f(x), f(markerY), f(x), f(nodesBottom), colour)
		fmt.Fprintf(&sb, `<g class="step"><title>step %d at %s: %s</title><circle cx="%s" cy="%s" r="%s" fill="%s"/><text class="num" x="%s" y="%s" text-anchor="middle">%d</text></g>`+"\n",
			s.n, fmtMs(s.tMs), esc(s.do), f(x+shift), f(markerY), f(stepRadiusPx), colour, f(x+shift), f(markerY+3), s.n)
		w := float64(len([]rune(s.do))) * charWidthPx
		for row := range labelRows {
			if rowEnd[row] == 0 || x-stepRadiusPx >= rowEnd[row]+6 {
				if x-stepRadiusPx+w > chartWidth {
					break
				}
				rowEnd[row] = x - stepRadiusPx + w
				// Row 0 is the one nearest the markers.
				ly := stepsTop + float64(labelRows-row)*labelRowH - 3
				fmt.Fprintf(&sb, `<text class="steplabel" x="%s" y="%s" fill="%s">%s</text>`+"\n", f(x-stepRadiusPx), f(ly), colour, esc(s.do))
				break
			}
		}
	}

	cy := checksTop + checksLaneH/2
	for _, e := range r.expects {
		x := a.x(e.tMs)
		colour, verdict := colourGreen, "met"
		if !e.ok {
			colour, verdict = colourRed, "FAILED"
		}
		fmt.Fprintf(&sb, `<path class="expect" d="M%s %sl6 6l-6 6l-6 -6z" fill="%s"><title>expectation %s at %s: %s</title></path>`+"\n",
			f(x), f(cy-6), colour, verdict, fmtMs(e.tMs), esc(e.detail))
	}
	for _, v := range r.violations {
		x := a.x(v.tMs)
		fmt.Fprintf(&sb, `<line class="violline" x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n", f(x), f(cy), f(x), f(nodesBottom))
		fmt.Fprintf(&sb, `<path class="viol" d="M%s %sl7 12h-14z"><title>%s at %s%s: %s</title></path>`+"\n",
			f(x), f(cy-7), esc(v.invariant), fmtMs(v.tMs), nodeSuffix(v.node), esc(v.detail))
		for i, n := range r.nodes {
			if n.name == v.node {
				y := nodesTop + float64(i)*nodeRowH + nodeRowH/2
				fmt.Fprintf(&sb, `<circle class="violdot" cx="%s" cy="%s" r="5"><title>%s at %s on %s: %s</title></circle>`+"\n",
					f(x), f(y), esc(v.invariant), fmtMs(v.tMs), esc(n.name), esc(v.detail))
			}
		}
	}
	a.ticks(&sb, nodesBottom, nodesBottom, false)
	sb.WriteString("</svg>\n")
	return sb.String()
}

func nodeSuffix(node string) string {
	if node == "" {
		return ""
	}
	return " on " + esc(node)
}

// fitText returns s if it fits in widthPx, else "".
func fitText(s string, widthPx float64) string {
	if float64(len([]rune(s)))*charWidthPx <= widthPx {
		return s
	}
	return ""
}

// areaSVG draws the stacked bucket counts of one group, nodes stacked in
// name order. The y axis reaches above 256 when claims overlap (isolation,
// or a bug), with a dashed line at 256 so a double claim stands out.
func areaSVG(r *run, g *groupTrack, a axis) string {
	times := g.times(r.nodes)
	counts := make([][]int, len(r.nodes))
	totals := make([]int, len(times))
	for i, n := range r.nodes {
		counts[i] = g.series(n.name, times)
		for k, c := range counts[i] {
			totals[k] += c
		}
	}
	maxTotal := 256
	for _, total := range totals {
		maxTotal = max(maxTotal, total)
	}
	yMax := (maxTotal + 63) / 64 * 64
	top := 10.0
	bottom := top + areaHeight
	y := func(v int) float64 { return bottom - float64(v)*areaHeight/float64(yMax) }
	height := bottom + axisHeight
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" role="img" aria-label="bucket shares of group %s">`+"\n",
		f(chartWidth), f(height), f(chartWidth), f(height), esc(g.name))
	for v := 0; v <= yMax; v += 64 {
		fmt.Fprintf(&sb, `<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/><text class="tick" x="%s" y="%s" text-anchor="end">%d</text>`+"\n",
			f(labelGutter), f(y(v)), f(chartWidth-rightPad), f(y(v)), f(labelGutter-6), f(y(v)+4), v)
	}
	a.ticks(&sb, top, bottom, false)

	base := make([]int, len(times))
	for i, n := range r.nodes {
		if !slices.ContainsFunc(counts[i], func(c int) bool { return c > 0 }) {
			continue
		}
		var pts []string
		for k, t := range times {
			end := a.endMs
			if k+1 < len(times) {
				end = times[k+1]
			}
			yTop := y(base[k] + counts[i][k])
			pts = append(pts, f(a.x(t))+","+f(yTop), f(a.x(end))+","+f(yTop))
		}
		for k := len(times) - 1; k >= 0; k-- {
			end := a.endMs
			if k+1 < len(times) {
				end = times[k+1]
			}
			yb := y(base[k])
			pts = append(pts, f(a.x(end))+","+f(yb), f(a.x(times[k]))+","+f(yb))
		}
		fmt.Fprintf(&sb, `<polygon points="%s" fill="%s" fill-opacity="0.85"><title>%s: buckets of %s</title></polygon>`+"\n",
			strings.Join(pts, " "), nodeColour(i), esc(n.name), esc(g.name))
		for k := range times {
			base[k] += counts[i][k]
		}
	}
	fmt.Fprintf(&sb, `<line class="full" x1="%s" y1="%s" x2="%s" y2="%s"/><text class="tick" x="%s" y="%s">256</text>`+"\n",
		f(labelGutter), f(y(256)), f(chartWidth-rightPad), f(y(256)), f(labelGutter+4), f(y(256)-3))
	for _, s := range r.steps {
		x := f(a.x(s.tMs))
		fmt.Fprintf(&sb, `<line class="stepthin" x1="%s" y1="%s" x2="%s" y2="%s"><title>step %d: %s</title></line>`+"\n", x, f(top), x, f(bottom), s.n, esc(s.do))
	}
	for _, v := range r.violations {
		x := f(a.x(v.tMs))
		fmt.Fprintf(&sb, `<line class="violline" x1="%s" y1="%s" x2="%s" y2="%s"><title>%s at %s</title></line>`+"\n", x, f(top), x, f(bottom), esc(v.invariant), fmtMs(v.tMs))
	}
	fmt.Fprintf(&sb, `<text class="lane" x="6" y="%s">buckets</text>`+"\n", f(top+areaHeight/2))
	sb.WriteString("</svg>\n")
	return sb.String()
}

func nodeColour(i int) string { return nodePalette[i%len(nodePalette)] }
