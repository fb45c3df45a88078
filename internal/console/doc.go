// Package console is farmd's web console: one embedded page (plain HTML, CSS
// and JavaScript, no framework, nothing fetched from elsewhere) that shows
// every node of the farm as a card — state in the SafeKit colours, WAIT rule,
// share and 16×16 bucket map of each load-balancing group, resources, peers
// with their last heartbeat per LAN, and the recent module log — with Start,
// Stop and Restart buttons.
//
// The page is served by any node but reads every node itself: the browser
// polls GET <peer>/api/v1/modules/<AM> on each peer admin URL of Options
// once a second, so a node that is down shows as ERROR (red) instead of
// taking the whole console with it. ModuleView is the JSON it reads; farmd's
// API serves that very struct. Actions are POST
// <peer>/api/v1/modules/<AM>/{start,stop,restart} with the admin token as a
// Bearer credential, asked once and kept in the tab's sessionStorage.
//
// Because the page on node1 reads node2's API, farmd must allow
// cross-origin GETs (Access-Control-Allow-Origin) and, for the buttons,
// answer the CORS preflight of a POST carrying Authorization.
package console
