package browser

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"reflect"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// Card is one node's card of the web console (internal/console) as the page
// draws it.
type Card struct {
	Node   string `json:"node"`   // the node name in the header
	State  string `json:"state"`  // STOP | WAIT | UP | ERROR
	Sub    string `json:"sub"`    // ready | transient | not ready | unreachable
	Share  string `json:"share"`  // e.g. "FarmProto 50%" ("" for ERROR)
	Colour string `json:"colour"` // the header's class: st-green | st-orange | st-red
	Group  string `json:"group"`  // the first group's line, e.g. "50% (128/256)"
	Error  string `json:"error"`  // why an ERROR card could not read its node
	// HeaderRect is the header's box in CSS pixels of the whole document
	// (x, y, width, height): where its colour is in a full screenshot.
	HeaderRect [4]float64 `json:"rect"`
}

// Console is the rendered console page: its status line and its cards in
// page order.
type Console struct {
	Status string `json:"status"` // e.g. "updated 14:02:11 · 2/2 answering"
	Cards  []Card `json:"cards"`
	// ScrollPx is the page's full size in CSS pixels (width, height).
	ScrollPx [2]float64 `json:"scroll"`
}

// readConsoleJS collects Console from the page; it depends only on the
// page's markup (console.js cardHTML), never on its internals.
const readConsoleJS = `(() => {
  const txt = (root, sel) => { const e = root.querySelector(sel); return e ? e.textContent : ''; };
  const st = document.getElementById('status');
  return {
    status: st ? st.textContent : '',
    scroll: [document.documentElement.scrollWidth, document.documentElement.scrollHeight],
    cards: [...document.querySelectorAll('article.card')].map((c) => {
      const h = c.querySelector(':scope > header');
      const r = h ? h.getBoundingClientRect() : { x: 0, y: 0, width: 0, height: 0 };
      return {
        node: txt(c, 'header .node'), state: txt(c, 'header .state'), sub: txt(c, 'header .sub'),
        share: txt(c, 'header .share'), colour: h ? h.className : '', group: txt(c, '.group .gname b'),
        error: txt(c, 'p.err'),
        rect: [r.x + window.scrollX, r.y + window.scrollY, r.width, r.height],
      };
    }),
  };
})()`

// ReadConsole reads the console page open in the chromedp context ctx.
func ReadConsole(ctx context.Context) (Console, error) {
	c, err := chromedp.Run(ctx, chromedp.Evaluate[Console](readConsoleJS))
	if err != nil {
		return Console{}, fmt.Errorf("read the console page: %w", err)
	}
	return c, nil
}

// Card returns the card of node.
func (c Console) Card(node string) (Card, bool) {
	for _, k := range c.Cards {
		if k.Node == node {
			return k, true
		}
	}
	return Card{}, false
}

// String is a one-line summary for failure messages.
func (c Console) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "status %q;", c.Status)
	for _, k := range c.Cards {
		fmt.Fprintf(&b, " [%s %s %s %s %q %q", k.Node, k.Colour, k.State, k.Sub, k.Share, k.Group)
		if k.Error != "" {
			fmt.Fprintf(&b, " err %q", k.Error)
		}
		b.WriteString("]")
	}
	if len(c.Cards) == 0 {
		b.WriteString(" no cards")
	}
	return b.String()
}

// WaitConsole polls the page every pollMs until check accepts it, and
// returns that page; after timeout it returns the last page read and an
// error saying what check still refused. The polling is the only waiting:
// check decides, never the passing of time.
func WaitConsole(ctx context.Context, timeout time.Duration, check func(Console) error) (Console, error) {
	const pollMs = 150
	deadline := time.Now().Add(timeout)
	var last Console
	var why error
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := ReadConsole(rctx)
		cancel()
		if err == nil {
			last = c
			if why = check(c); why == nil {
				return c, nil
			}
		} else {
			why = err
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("after %v: %w (page: %s)", timeout, why, last)
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("%w while waiting: %v (page: %s)", ctx.Err(), why, last)
		case <-time.After(pollMs * time.Millisecond):
		}
	}
}

// Screenshot takes a PNG of the whole page.
func Screenshot(ctx context.Context) ([]byte, error) {
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return nil, fmt.Errorf("screenshot: %w", err)
	}
	return b, nil
}

// Capture takes a screenshot of a page that check accepts and returns it
// with the page it shows. The page is read before and after the picture and
// its cards must not change in between (else it tries again, a few times),
// check must still accept it, and the picture's header colours must match
// it (CheckHeaderColours): a kept screenshot cannot contradict what the test
// asserted.
func Capture(ctx context.Context, check func(Console) error) ([]byte, Console, error) {
	var last Console
	for range 3 {
		before, err := ReadConsole(ctx)
		if err != nil {
			return nil, before, err
		}
		pic, err := Screenshot(ctx)
		if err != nil {
			return nil, before, err
		}
		after, err := ReadConsole(ctx)
		if err != nil {
			return nil, after, err
		}
		last = after
		if !reflect.DeepEqual(before.Cards, after.Cards) {
			continue // a poll redrew a card during the picture
		}
		if err := check(after); err != nil {
			return nil, after, fmt.Errorf("the page changed before its screenshot: %w", err)
		}
		if err := CheckHeaderColours(pic, after); err != nil {
			return nil, after, err
		}
		return pic, after, nil
	}
	return nil, last, fmt.Errorf("the cards changed during each of 3 screenshots (last page: %s)", last)
}

// SafeKit's console colours as console.css draws them (--green, --orange,
// --red), by header class.
var headerColours = map[string]color.RGBA{
	"st-green":  {0x2e, 0x9e, 0x44, 0xff},
	"st-orange": {0xf2, 0x9d, 0x12, 0xff},
	"st-red":    {0xd6, 0x3a, 0x2f, 0xff},
}

// CheckHeaderColours verifies that the screenshot pngData of page c shows
// every card's header in the colour its class claims, so a picture kept as
// evidence cannot contradict the assertions made on the DOM (a stylesheet
// that failed to load, a screenshot taken of another state).
func CheckHeaderColours(pngData []byte, c Console) error {
	img, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	// The screenshot may be at a device scale other than 1.
	scale := 1.0
	if c.ScrollPx[0] > 0 {
		scale = float64(img.Bounds().Dx()) / c.ScrollPx[0]
	}
	for _, k := range c.Cards {
		want, ok := headerColours[k.Colour]
		if !ok {
			return fmt.Errorf("card %s: header class %q is no console colour", k.Node, k.Colour)
		}
		x, y, w, h := k.HeaderRect[0], k.HeaderRect[1], k.HeaderRect[2], k.HeaderRect[3]
		if w < 20 || h < 10 {
			return fmt.Errorf("card %s: header box %v too small to sample", k.Node, k.HeaderRect)
		}
		// The bottom-left of the header: inside its 12 px × 8 px padding,
		// below the rounded top corners, so background only.
		for _, p := range [][2]float64{{x + 3, y + h - 3}, {x + 8, y + h - 5}, {x + w - 4, y + h - 3}} {
			px := image.Pt(int(p[0]*scale), int(p[1]*scale))
			if !px.In(img.Bounds()) {
				return fmt.Errorf("card %s: header point %v outside the %v screenshot", k.Node, px, img.Bounds().Size())
			}
			got := color.RGBAModel.Convert(img.At(px.X, px.Y)).(color.RGBA)
			if !near(got, want, 8) {
				return fmt.Errorf("card %s (%s): screenshot pixel %v is #%02x%02x%02x, want #%02x%02x%02x",
					k.Node, k.Colour, px, got.R, got.G, got.B, want.R, want.G, want.B)
			}
		}
	}
	return nil
}

func near(a, b color.RGBA, tol int) bool {
	d := func(x, y uint8) bool { v := int(x) - int(y); return v <= tol && v >= -tol }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B)
}
