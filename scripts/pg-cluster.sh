#!/bin/sh
# A throwaway PostgreSQL 15 cluster for the tests (make blackbox-pg).
#
#   scripts/pg-cluster.sh start DIR   initdb into DIR (new or empty) and start it; or start
#                                     again a cluster that DIR already holds, on its port
#   scripts/pg-cluster.sh halt DIR [immediate]
#                                     fast shutdown (or an immediate one: a crash, which
#                                     the next start recovers from), keeping DIR
#   scripts/pg-cluster.sh stop DIR    fast shutdown, then remove DIR
#   scripts/pg-cluster.sh url DIR     print the admin URL
#
# start prints the admin URL, postgres://postgres@127.0.0.1:PORT/postgres, on
# stdout and nothing else. The server listens on 127.0.0.1 only, on a free
# port (another one is tried when it is taken), with its unix socket in DIR
# and trust authentication; fsync and synchronous_commit keep their (safe)
# defaults. As root it runs as the `postgres` system user (initdb refuses
# root), which then owns DIR; otherwise as the caller. Every wait is bounded.
# DIR holds: data/ (the cluster), port, log, and the marker .pg-cluster,
# without which stop refuses to remove anything.
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
START_TIMEOUT=${PG_START_TIMEOUT:-60} # seconds for the server to accept connections
STOP_TIMEOUT=${PG_STOP_TIMEOUT:-30}   # seconds for a fast shutdown
PORT_TRIES=10
MARK=.pg-cluster

die() {
    echo "pg-cluster: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start|halt|stop|url DIR  (halt DIR [fast|immediate])" >&2
    exit 2
}

[ $# -eq 2 ] || { [ $# -eq 3 ] && [ "$1" = halt ]; } || usage
cmd=$1
dir=$2
mode=${3:-fast}
case "$mode" in
fast | immediate) ;;
*) usage ;;
esac
[ -n "$dir" ] || usage
case "$dir" in
/*) ;;
*) dir="$(pwd)/$dir" ;;
esac

if [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
    die "PostgreSQL 15 is not installed ($PGBIN/initdb missing): apt-get install postgresql"
fi

# Runs a PostgreSQL program as the cluster's owner.
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs the postgres system user (apt-get install postgresql)"
    owner=postgres
    as_owner() { runuser -u postgres -- "$@"; }
else
    owner=$(id -un)
    as_owner() { "$@"; }
fi

data="$dir/data"
cd / # the owner may not be allowed into the caller's directory

is_ours() { [ -f "$dir/$MARK" ]; }

running() {
    [ -f "$data/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1
}

url() {
    [ -f "$dir/port" ] || die "$dir holds no cluster (no port file)"
    echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
}

# Waits (bounded) until the server answers a query on its TCP port.
wait_ready() {
    port=$1
    i=0
    while [ $i -lt $((START_TIMEOUT * 5)) ]; do
        if as_owner "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
            -tAc 'SELECT 1' >/dev/null 2>&1; then
            return 0
        fi
        running || return 1
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

# Starts the server on port $1; returns 1 if the port was taken, dies on
# any other failure.
try_start() {
    port=$1
    : >"$dir/log"
    chown "$owner" "$dir/log" 2>/dev/null || true
    if as_owner "$PGBIN/pg_ctl" -D "$data" -l "$dir/log" -w -t "$START_TIMEOUT" \
        -o "-p $port" start >/dev/null 2>&1; then
        wait_ready "$port" && return 0
        as_owner "$PGBIN/pg_ctl" -D "$data" -m immediate -w -t "$STOP_TIMEOUT" stop >/dev/null 2>&1 || true
        die "the server started on port $port but did not answer within ${START_TIMEOUT}s; log: $dir/log"
    fi
    if grep -qi "could not bind\|address already in use\|could not create any TCP/IP sockets" "$dir/log"; then
        return 1
    fi
    echo "pg-cluster: the server did not start; $dir/log says:" >&2
    tail -n 20 "$dir/log" >&2
    exit 1
}

random_port() {
    # 20000..32767: below the kernel's ephemeral ports, so that no client
    # socket of the tests ever holds it. From /dev/urandom (sh has no $RANDOM).
    echo $((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 12768))
}

start() {
    if [ -f "$data/PG_VERSION" ]; then
        is_ours || die "$dir holds a cluster this script did not make (no $MARK)"
        if running; then
            url
            return 0
        fi
        # Start again on the same port: URLs handed out earlier stay valid.
        port=$(cat "$dir/port")
        try_start "$port" || die "port $port of the cluster in $dir is taken now"
        url
        return 0
    fi
    if [ -e "$dir" ]; then
        [ -d "$dir" ] || die "$dir exists and is not a directory"
        [ -z "$(ls -A "$dir")" ] || die "$dir is not empty (want a fresh directory)"
    else
        mkdir -p "$dir"
    fi
    case "$dir" in
    *\'* | *\\*) die "$dir: quotes and backslashes are not supported" ;;
    esac
    # The socket is $dir/.s.PGSQL.PORT, and a unix socket path has 107 bytes at most.
    [ ${#dir} -le 90 ] || die "$dir is too long for a unix socket directory (90 bytes at most)"
    : >"$dir/$MARK"
    chown -R "$owner" "$dir"
    chmod 0700 "$dir"
    as_owner test -w "$dir" || die "$owner cannot write to $dir (is a parent directory closed to it?)"
    if ! as_owner "$PGBIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
        echo "pg-cluster: initdb failed:" >&2
        tail -n 20 "$dir/initdb.log" >&2
        exit 1
    fi
    # Enough connections for several servers with a few threads each; the
    # durability settings (fsync, synchronous_commit, full_page_writes) stay
    # at their defaults, because the tests check that acknowledged writes survive.
    cat >>"$data/postgresql.conf" <<EOF

# pg-cluster.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 300
log_min_messages = warning
log_line_prefix = '%m [%p] %d '
EOF
    tries=0
    while :; do
        tries=$((tries + 1))
        port=$(random_port)
        echo "$port" >"$dir/port"
        if try_start "$port"; then
            break
        fi
        [ $tries -lt $PORT_TRIES ] || die "no free port after $PORT_TRIES tries"
    done
    url
}

halt() {
    [ -d "$dir" ] || return 0
    is_ours || die "$dir was not made by this script (no $MARK)"
    [ -f "$data/postmaster.pid" ] || return 0
    if ! as_owner "$PGBIN/pg_ctl" -D "$data" -m "$mode" -w -t "$STOP_TIMEOUT" stop >/dev/null 2>&1; then
        running || return 0
        echo "pg-cluster: fast shutdown took over ${STOP_TIMEOUT}s: immediate shutdown" >&2
        as_owner "$PGBIN/pg_ctl" -D "$data" -m immediate -w -t "$STOP_TIMEOUT" stop >/dev/null 2>&1 ||
            die "could not stop the server of $dir"
    fi
}

stop() {
    [ -e "$dir" ] || return 0
    halt
    rm -rf "$dir"
}

case "$cmd" in
start) start ;;
halt) halt ;;
stop) stop ;;
url) url ;;
*) usage ;;
esac
