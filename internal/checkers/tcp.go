package checkers

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/vipfarm/vipfarm/core"
	"github.com/vipfarm/vipfarm/core/config"
)

// tcpChecker connects to <to addr port> every interval: up when the
// connection opens within the timeout.
func tcpChecker(c config.Check, p *publisher, kick <-chan struct{}) (func(context.Context), error) {
	if c.Addr == "" || c.Port <= 0 || c.Port > 65535 {
		return nil, fmt.Errorf("tcp checker needs <to addr port>, got addr %q port %d", c.Addr, c.Port)
	}
	target := net.JoinHostPort(c.Addr, strconv.Itoa(c.Port))
	return func(ctx context.Context) {
		everyOrKick(ctx, c.Interval, kick, func() {
			dctx, cancel := context.WithTimeout(ctx, timeoutOf(c))
			defer cancel()
			conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", target)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				p.set(core.ResDown, err.Error())
				return
			}
			conn.Close()
			p.set(core.ResUp, "connected to "+target)
		})
	}, nil
}
