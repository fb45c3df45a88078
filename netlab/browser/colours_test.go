package browser

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// picture draws a page of two card headers, green at x 20 and red at x 400,
// at device scale scale, and encodes it as PNG.
func picture(t *testing.T, scale int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 800*scale, 300*scale))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{0xf6, 0xf7, 0xf9, 0xff}}, image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(20*scale, 100*scale, 350*scale, 140*scale), &image.Uniform{headerColours["st-green"]}, image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(400*scale, 100*scale, 730*scale, 140*scale), &image.Uniform{headerColours["st-red"]}, image.Point{}, draw.Src)
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCheckHeaderColours(t *testing.T) {
	page := func(c1, c2 string) Console {
		return Console{ScrollPx: [2]float64{800, 300}, Cards: []Card{
			{Node: "node1", Colour: c1, HeaderRect: [4]float64{20, 100, 330, 40}},
			{Node: "node2", Colour: c2, HeaderRect: [4]float64{400, 100, 330, 40}},
		}}
	}
	for _, scale := range []int{1, 2} {
		if err := CheckHeaderColours(picture(t, scale), page("st-green", "st-red")); err != nil {
			t.Errorf("scale %d: a faithful picture refused: %v", scale, err)
		}
	}
	for _, tc := range []struct {
		c1, c2, want string
	}{
		{"st-green", "st-green", "card node2 (st-green): screenshot pixel"},
		{"st-orange", "st-red", "card node1 (st-orange)"},
		{"st-blue", "st-red", `header class "st-blue" is no console colour`},
	} {
		err := CheckHeaderColours(picture(t, 1), page(tc.c1, tc.c2))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s/%s: %v, want an error with %q", tc.c1, tc.c2, err, tc.want)
		}
	}
	off := page("st-green", "st-red")
	off.Cards[1].HeaderRect = [4]float64{780, 290, 330, 40}
	if err := CheckHeaderColours(picture(t, 1), off); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("a header outside the picture: %v", err)
	}
	if err := CheckHeaderColours([]byte("not a png"), off); err == nil {
		t.Error("garbage accepted as a screenshot")
	}
}

func TestCardIs(t *testing.T) {
	c := Console{Status: "updated 14:02:11 · 1/2 answering", Cards: []Card{
		{Node: "node1", State: "UP", Sub: "ready", Share: "FarmProto 100%", Colour: "st-green", Group: "100% (256/256)"},
		{Node: "node2", State: "ERROR", Sub: "unreachable", Colour: "st-red"},
	}}
	if err := cardIs(c, "node1", "st-green", "UP", "ready", "FarmProto 100%", "100% (256/256)"); err != nil {
		t.Error(err)
	}
	if err := cardIs(c, "node2", "st-red", "ERROR", "", "", ""); err != nil {
		t.Error(err)
	}
	even := Console{Cards: []Card{{Node: "a", Group: "50% (127/256)"}, {Node: "b", Group: "50% (129/256)"}}}
	if err := balanced(even, "a", "b"); err != nil {
		t.Errorf("127/129 refused: %v", err)
	}
	for _, g := range []string{"50% (126/256)", "50% (128/256)", "50%"} {
		even.Cards[1].Group = g
		if balanced(even, "a", "b") == nil {
			t.Errorf("127 and %q accepted", g)
		}
	}
	for _, err := range []error{
		cardIs(c, "node1", "st-green", "UP", "ready", "FarmProto 50%", ""),
		cardIs(c, "node2", "st-green", "ERROR", "", "", ""),
		cardIs(c, "node2", "st-red", "STOP", "", "", ""),
		cardIs(c, "node3", "st-red", "STOP", "", "", ""),
		statusSays(c, "2/2 answering"),
		cardCount(c, 3),
		balanced(c, "node1", "node2"), // node2 (ERROR) draws no group
	} {
		if err == nil {
			t.Error("a wrong page accepted")
		}
	}
}

// TestExecShimErrors runs the shim the way NewAllocator does, with bad
// arguments: it must exit 127 naming the problem, never exec anything.
func TestExecShimErrors(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{ExecArg, "vf-h12node1"}, "usage: " + ExecArg + " NETNS -- CMD"},
		{[]string{ExecArg, "vf-h12none", "--", "true"}, "open netns vf-h12none"},
		{[]string{ExecArg, "vf-h12none", "--", "/nonexistent/chromium"}, "/nonexistent/chromium"},
	} {
		out, err := exec.Command(self, tc.args...).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 127 || !strings.Contains(string(out), tc.want) {
			t.Errorf("shim %q: %v, output %q; want exit 127 with %q", tc.args, err, out, tc.want)
		}
	}
}
