# Shared by the AM scripts: a demo web service answering with the node's
# name, run with python3's http.server from $SAFEUSERVAR/www.
PIDFILE="$SAFEUSERVAR/demo.pid"
WWW="$SAFEUSERVAR/www"

demo_start() {
	command -v python3 >/dev/null || { echo "python3 not found"; return 1; }
	mkdir -p "$WWW" || return 1
	echo "served by $(hostname)" > "$WWW/index.html"
	python3 -m http.server "$DEMO_PORT" --directory "$WWW" </dev/null >>"$SAFEUSERVAR/demo.log" 2>&1 &
	echo $! > "$PIDFILE"
	# Wait up to 5 s for the port to answer.
	i=0
	while [ $i -lt 50 ]; do
		if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2)" "$DEMO_PORT" 2>/dev/null; then
			return 0
		fi
		i=$((i + 1))
		sleep 0.1
	done
	echo "demo service did not answer on port $DEMO_PORT"
	return 1
}

demo_stop() {
	sig=${1:-TERM}
	[ -f "$PIDFILE" ] || return 0
	pid=$(cat "$PIDFILE")
	kill -"$sig" "$pid" 2>/dev/null
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	rm -f "$PIDFILE"
}
