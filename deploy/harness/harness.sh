#!/usr/bin/env bash
# Real-services test harness: Apache Kafka (KRaft, one combined node), Redis and
# PostgreSQL as plain processes on 127.0.0.1 (CI machines have no Docker).
#
#   harness.sh up             install what is missing, start what is not running,
#                             write .harness/env (idempotent)
#   harness.sh down           stop the services this HARNESS_SESSION started
#   harness.sh status         show what runs
#   harness.sh restart-kafka  kill -9 the broker, start it on the same data, wait ready
#   harness.sh restart-redis  kill -9 Redis, start it on the same data (AOF), wait ready
#   harness.sh env            print .harness/env
#
# Ownership: `up` writes .harness/owner.<service> = $HARNESS_SESSION (default
# "manual") for each service it starts. A service that is already running and
# healthy is left alone and not claimed, and `down` stops only what the current
# session owns. So `make test` inside a `make harness-up` leaves the outer
# services running, and a `make test` on its own cleans up after itself.
#
# Data: a service that `up` starts gets a fresh data dir (tests start from a
# clean state); `restart-*` keeps the data (fault tests check what survives).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
H="$ROOT/.harness"
LOGS="$H/logs"
SESSION=${HARNESS_SESSION:-manual}
CACHE=${CONTACTSYNC_HARNESS_CACHE:-$HOME/.cache/contactsync-harness}

KAFKA_PORT=19092
KAFKA_CONTROLLER_PORT=19093
REDIS_PORT=16379
PG_PORT=15432
KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
REDIS_ADDR="127.0.0.1:$REDIS_PORT"
PG_DSN="postgres://postgres@127.0.0.1:$PG_PORT/contactsync?sslmode=disable"

KAFKA_CONF="$SCRIPT_DIR/kafka"
KAFKA_VERSION=$(sed -n 's#.*<kafka.version>\(.*\)</kafka.version>.*#\1#p' "$KAFKA_CONF/pom.xml")
KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"

SERVICES=(kafka redis postgres)

log() { echo "harness: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
is_root() { [[ $(id -u) == 0 ]]; }

# ---------------------------------------------------------------- processes

# alive PID: running and not a zombie (kill -0 succeeds on zombies).
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	local state
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[[ $state != Z ]]
}

# What each service's process has on its command line: checked before any
# signal, so a stale pid file never makes us kill a recycled pid.
cmd_pattern() {
	case $1 in
	kafka) echo kafka.Kafka ;;
	redis) echo redis-server ;;
	postgres) echo postgres ;;
	esac
}

# svc_pid SVC: print the pid of our SVC process, fail if it is not running.
svc_pid() {
	local f="$H/$1.pid" pid
	[[ -f $f ]] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(cmd_pattern "$1")" || return 1
	echo "$pid"
}

# wait_gone PID SECONDS: true once PID has exited, false at the deadline.
wait_gone() {
	local pid=$1 deadline=$((SECONDS + $2))
	while alive "$pid"; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

# stop_pid PID SIGNAL SECONDS: polite signal, then KILL if it has not exited in time.
stop_pid() {
	local pid=$1 sig=$2 secs=$3
	kill "-$sig" "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" "$secs"; then
		log "pid $pid still running ${secs}s after SIG$sig: KILL"
		kill -KILL "$pid" 2>/dev/null || true
		wait_gone "$pid" 10 || die "pid $pid survives SIGKILL"
	fi
}

# kill9 SVC PORT: crash the service (fault tests), wait until it is gone and
# its port is free (a restart that races the old socket fails to bind).
kill9() {
	local pid deadline=$((SECONDS + 30))
	if pid=$(svc_pid "$1"); then
		log "$1: kill -9 $pid"
		kill -KILL "$pid"
		wait_gone "$pid" 30 || die "$1: pid $pid survives SIGKILL"
	else
		log "$1: not running"
	fi
	while port_open "$2"; do
		((SECONDS < deadline)) || die "$1: port $2 still taken after the kill"
		sleep 0.2
	done
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# launch LOGFILE CMD...: start CMD in the background in its own session (a
# Ctrl-C in the terminal that ran `up` must not reach it; only `down` stops
# it), with no inherited fds (the lock on fd 9, a CI log pipe on stdout).
# Prints the pid. The script's background children are never process-group
# leaders, so setsid(1) execs CMD without forking and $! is CMD's pid.
launch() {
	local out=$1
	shift
	setsid "$@" </dev/null >>"$out" 2>&1 9>&- &
	echo $!
}

# wait_ready SVC SECONDS CHECK...: poll CHECK until it succeeds; fail at the
# deadline or as soon as the service's process has died.
wait_ready() {
	local svc=$1 secs=$2 deadline=$((SECONDS + $2))
	shift 2
	until "$@"; do
		svc_pid "$svc" >/dev/null || { show_logs "$svc"; die "$svc: process exited while starting"; }
		((SECONDS < deadline)) || { show_logs "$svc"; die "$svc: not ready within ${secs}s ($*)"; }
		sleep 0.3
	done
}

show_logs() {
	local f
	for f in "$LOGS/$1"*.log "$LOGS/$1"/*.log; do
		[[ -f $f ]] || continue
		echo "----- last lines of $f" >&2
		tail -n 30 "$f" >&2
	done
}

# ---------------------------------------------------------------- installs

APT_UPDATED=
apt_install() {
	local sudo=()
	if ! is_root; then
		command -v sudo >/dev/null && sudo -n true 2>/dev/null || die "need root or sudo to install: $*"
		sudo=(sudo -n)
	fi
	log "installing $* (apt)"
	if [[ -z $APT_UPDATED ]]; then
		"${sudo[@]}" apt-get update -q >"$LOGS/apt.log" 2>&1 || { tail -n 20 "$LOGS/apt.log" >&2; die "apt-get update failed"; }
		APT_UPDATED=1
	fi
	# Debian starts a package's system service on install (redis on 6379, a
	# postgres "main" cluster on 5432); we run our own processes instead, so
	# tell invoke-rc.d not to start anything (exit 101) unless the image does already.
	local policy=/usr/sbin/policy-rc.d added=
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
		"${sudo[@]}" chmod 755 "$policy"
		added=1
	fi
	local rc=0
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$LOGS/apt.log" 2>&1 || rc=$?
	[[ -z $added ]] || "${sudo[@]}" rm -f "$policy"
	((rc == 0)) || { tail -n 30 "$LOGS/apt.log" >&2; die "apt-get install $* failed"; }
}

need_java() {
	command -v java >/dev/null || apt_install openjdk-17-jre-headless
	command -v mvn >/dev/null || apt_install maven
}

need_redis() {
	command -v redis-server >/dev/null && command -v redis-cli >/dev/null || apt_install redis-server redis-tools
}

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

need_postgres() {
	[[ -x "$(pg_bindir)/initdb" ]] && command -v psql >/dev/null && command -v pg_isready >/dev/null ||
		apt_install postgresql postgresql-client
	[[ -x "$(pg_bindir)/initdb" ]] || die "postgresql installed but no initdb under /usr/lib/postgresql/*/bin"
}

# The broker's jars: mvn copy-dependencies of kafka/pom.xml into a cache dir
# outside the repo (no target/ in the work tree, no re-download on re-runs). A
# stamp with the POM's hash makes a changed POM re-resolve.
kafka_libs() {
	local want stamp="$KAFKA_LIBS/.pom.sha256"
	want=$(sha256sum <"$KAFKA_CONF/pom.xml" | cut -d' ' -f1)
	[[ -f $stamp && $(<"$stamp") == "$want" ]] && return 0
	need_java
	local work="$CACHE/kafka-$KAFKA_VERSION"
	local tmp="$work/libs.tmp.$$"
	mkdir -p "$work"
	cp "$KAFKA_CONF/pom.xml" "$work/pom.xml"
	rm -rf "$tmp"
	log "kafka: fetching Kafka $KAFKA_VERSION jars with Maven into $KAFKA_LIBS"
	mvn -B -q -Dstyle.color=never -f "$work/pom.xml" dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$tmp" >"$LOGS/maven.log" 2>&1 ||
		{ tail -n 30 "$LOGS/maven.log" >&2; rm -rf "$tmp"; die "mvn could not fetch the Kafka jars (log: $LOGS/maven.log)"; }
	rm -rf "$KAFKA_LIBS" "$work/target"
	mv "$tmp" "$KAFKA_LIBS"
	echo "$want" >"$stamp"
}

# ---------------------------------------------------------------- kafka

# "${KAFKA_TOOL[@]}" CLASS ARGS...: run a Kafka CLI class (TopicCommand,
# StorageTool, ...) in a small, fast-starting JVM with warnings-only logging.
KAFKA_TOOL=(java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
	-Dlog4j2.configurationFile="$KAFKA_CONF/tools-log4j2.properties" -cp "$KAFKA_LIBS/*")

# Healthy = the port answers and a metadata request (list topics) succeeds.
kafka_healthy() {
	port_open "$KAFKA_PORT" &&
		timeout 30 "${KAFKA_TOOL[@]}" org.apache.kafka.tools.TopicCommand \
			--bootstrap-server "$KAFKA_BROKERS" --list >/dev/null 2>&1
}

# kafka_started FROM: "Kafka Server started" was logged after byte FROM of server.log.
kafka_started() { tail -c "+$(($1 + 1))" "$LOGS/kafka/server.log" 2>/dev/null | grep -q 'Kafka Server started'; }

# Start the broker on the existing data dir and wait until it serves metadata.
kafka_launch() {
	local from pid
	mkdir -p "$LOGS/kafka"
	from=$(stat -c %s "$LOGS/kafka/server.log" 2>/dev/null || echo 0)
	pid=$(launch "$LOGS/kafka/stdout.log" java -Xms256m -Xmx1g -server \
		-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
		-XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
		-Dkafka.logs.dir="$LOGS/kafka" -Dlog4j2.configurationFile="$KAFKA_CONF/log4j2.properties" \
		-cp "$KAFKA_LIBS/*" kafka.Kafka "$H/kafka/server.properties")
	echo "$pid" >"$H/kafka.pid"
	wait_ready kafka 120 kafka_started "$from"
	wait_ready kafka 60 kafka_healthy
}

# Fresh broker: new data dir, formatted with a random cluster id.
kafka_start_fresh() {
	rm -rf "$H/kafka"
	mkdir -p "$H/kafka/data" "$LOGS/kafka"
	sed "s#@DATA_DIR@#$H/kafka/data#g" "$KAFKA_CONF/server.properties.in" >"$H/kafka/server.properties"
	# A cluster id is 16 random bytes in unpadded base64url (Kafka's Uuid.toString).
	local cid
	cid=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
	"${KAFKA_TOOL[@]}" kafka.tools.StorageTool format --standalone -t "$cid" \
		-c "$H/kafka/server.properties" >"$LOGS/kafka/format.log" 2>&1 ||
		{ cat "$LOGS/kafka/format.log" >&2; die "kafka: storage format failed"; }
	kafka_launch
}

kafka_stop() { stop_pid "$1" TERM 60; } # TERM = clean shutdown via the JVM hook

# ---------------------------------------------------------------- redis

redis_healthy() { [[ $(timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

# Start Redis on the existing dir. appendonly: a restart replays the AOF, so
# acknowledged writes survive restart-redis (kill -9 loses nothing that was
# written to the file; only an OS crash could).
redis_launch() {
	local pid
	mkdir -p "$H/redis"
	pid=$(launch "$LOGS/redis.log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
		--daemonize no --save "" --appendonly yes --dir "$H/redis" --protected-mode yes)
	echo "$pid" >"$H/redis.pid"
	wait_ready redis 30 redis_healthy
}

redis_start_fresh() {
	rm -rf "$H/redis"
	redis_launch
}

redis_stop() { stop_pid "$1" TERM 30; }

# ---------------------------------------------------------------- postgres

# postgres refuses to run as root: when we are root, its files belong to the
# postgres user and its commands run as that user (from /, which it can read).
AS_PG=()
if is_root; then AS_PG=(runuser -u postgres --); fi

# The cluster lives in .harness/pg unless the postgres user cannot reach that
# path (e.g. a checkout under a 0700 home): then in a private dir under /tmp,
# remembered in .harness/pg.path, with the server log there too (symlinked
# from .harness/logs).
pg_dir() { if [[ -f $H/pg.path ]]; then cat "$H/pg.path"; else echo "$H/pg"; fi; }

pg_healthy() {
	pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 3 >/dev/null 2>&1 &&
		psql "$PG_DSN" -Atqc 'select 1' >/dev/null 2>&1
}

postgres_start_fresh() {
	local bin dir pglog="$LOGS/postgres.log"
	bin=$(pg_bindir)
	rm -rf "$(pg_dir)" "$H/pg.path"
	dir="$H/pg"
	if is_root && ! runuser -u postgres -- test -x "$H"; then
		dir=$(mktemp -d /tmp/contactsync-harness-pg.XXXXXX)
		echo "$dir" >"$H/pg.path"
		pglog="$dir/postgres.log"
	fi
	mkdir -p "$dir/run"
	rm -f "$LOGS/postgres.log"
	: >"$pglog"
	[[ $pglog == "$LOGS/postgres.log" ]] || ln -s "$pglog" "$LOGS/postgres.log"
	if is_root; then chown -R postgres: "$dir" "$pglog"; fi
	(cd / && "${AS_PG[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-locale -E UTF8 \
		--no-sync --no-instructions) >"$LOGS/postgres-initdb.log" 2>&1 ||
		{ cat "$LOGS/postgres-initdb.log" >&2; die "postgres: initdb failed"; }
	cat >>"$dir/data/postgresql.conf" <<EOF

# contactsync test harness
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$dir/run'
# throwaway test data: no fsync
fsync = off
# lets a Debezium (pgoutput) test stream changes from this cluster
wal_level = logical
EOF
	# pg_ctl -w waits until the server accepts connections; setsid for the
	# same reason as launch().
	(cd / && setsid "${AS_PG[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$pglog" -w -t 60 start) \
		</dev/null >>"$LOGS/postgres-ctl.log" 2>&1 9>&- ||
		{ show_logs postgres; die "postgres: pg_ctl start failed"; }
	head -n 1 "$dir/data/postmaster.pid" >"$H/postgres.pid"
	wait_ready postgres 30 pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 3
	psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c 'CREATE DATABASE contactsync' >/dev/null ||
		die "postgres: cannot create database contactsync"
	wait_ready postgres 30 pg_healthy
}

# SIGINT = postgres "fast" shutdown: roll back open sessions and exit.
postgres_stop() { stop_pid "$1" INT 30; }

# ---------------------------------------------------------------- commands

port_of() {
	case $1 in
	kafka) echo "$KAFKA_PORT" ;;
	redis) echo "$REDIS_PORT" ;;
	postgres) echo "$PG_PORT" ;;
	esac
}

healthy() {
	case $1 in
	kafka) kafka_healthy ;;
	redis) redis_healthy ;;
	postgres) pg_healthy ;;
	esac
}

owner_of() { cat "$H/owner.$1" 2>/dev/null || echo "none (not started by this harness)"; }

up_service() {
	local svc=$1 pid t0=$SECONDS
	if healthy "$svc"; then
		log "$svc: already running, owner $(owner_of "$svc"): leaving it"
		return 0
	fi
	# Not healthy. A process of ours from an earlier run may still be there
	# (crashed half-way, hung): stop it and start afresh.
	if pid=$(svc_pid "$svc"); then
		log "$svc: pid $pid is not healthy: stopping it"
		"${svc}_stop" "$pid"
	fi
	local port
	local ports=("$(port_of "$svc")")
	[[ $svc != kafka ]] || ports+=("$KAFKA_CONTROLLER_PORT")
	for port in "${ports[@]}"; do
		! port_open "$port" || die "$svc: 127.0.0.1:$port is taken by a process this harness does not know"
	done
	log "$svc: starting"
	"${svc}_start_fresh"
	echo "$SESSION" >"$H/owner.$svc"
	log "$svc: ready in $((SECONDS - t0))s (owner $SESSION)"
}

write_env() {
	local redis_v pg_v
	redis_v=$(timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" info server 2>/dev/null |
		sed -n 's/^redis_version:\([^[:space:]]*\).*/\1/p')
	pg_v=$(psql "$PG_DSN" -Atqc 'show server_version' 2>/dev/null | cut -d' ' -f1)
	cat >"$H/env.tmp" <<EOF
# Written by deploy/harness/harness.sh up: the real services for tests. Source it.
export KAFKA_BROKERS='$KAFKA_BROKERS'
export REDIS_ADDR='$REDIS_ADDR'
export PG_DSN='$PG_DSN'
export KAFKA_VERSION='$KAFKA_VERSION'
export REDIS_VERSION='$redis_v'
export PG_VERSION='$pg_v'
export HARNESS_DIR='$H'
export KAFKA_LIBS='$KAFKA_LIBS'
export HARNESS_SH='$SCRIPT_DIR/harness.sh'
EOF
	mv "$H/env.tmp" "$H/env"
}

cmd_up() {
	local t0=$SECONDS svc
	# Tools first: the health checks need redis-cli, psql and the Kafka CLI jars.
	kafka_libs
	need_redis
	need_postgres
	for svc in "${SERVICES[@]}"; do up_service "$svc"; done
	write_env
	log "up in $((SECONDS - t0))s; env in $H/env"
}

cmd_down() {
	local svc owner pid
	for svc in "${SERVICES[@]}"; do
		owner=$(cat "$H/owner.$svc" 2>/dev/null || true)
		if [[ $owner != "$SESSION" ]]; then
			[[ -z $owner ]] || log "$svc: owned by session '$owner', not '$SESSION': leaving it"
			continue
		fi
		if pid=$(svc_pid "$svc"); then
			log "$svc: stopping pid $pid"
			"${svc}_stop" "$pid"
		fi
		rm -f "$H/owner.$svc" "$H/$svc.pid"
	done
	# A stale env file would point `make bench` and friends at dead services.
	local port
	for port in "$KAFKA_PORT" "$REDIS_PORT" "$PG_PORT"; do
		! port_open "$port" || return 0
	done
	rm -f "$H/env"
}

cmd_status() {
	local svc pid state
	for svc in "${SERVICES[@]}"; do
		if healthy "$svc"; then state=healthy; elif svc_pid "$svc" >/dev/null; then state=unhealthy; else state=stopped; fi
		pid=$(svc_pid "$svc" || echo -)
		printf '%-9s %-9s 127.0.0.1:%-6s pid %-8s owner %s\n' "$svc" "$state" "$(port_of "$svc")" "$pid" \
			"$(cat "$H/owner.$svc" 2>/dev/null || echo -)"
	done
}

cmd_restart_kafka() {
	[[ -f $H/kafka/server.properties ]] || die "kafka: no data dir in $H/kafka: run up first"
	local t0=$SECONDS
	kill9 kafka "$KAFKA_PORT"
	kafka_launch
	log "kafka: restarted on the same data in $((SECONDS - t0))s"
}

cmd_restart_redis() {
	[[ -d $H/redis ]] || die "redis: no data dir in $H/redis: run up first"
	local t0=$SECONDS
	kill9 redis "$REDIS_PORT"
	redis_launch
	log "redis: restarted on the same data in $((SECONDS - t0))s"
}

main() {
	local cmd=${1:-}
	case $cmd in
	env)
		[[ -f $H/env ]] || die "no $H/env: run up first"
		cat "$H/env"
		return
		;;
	status)
		cmd_status
		return
		;;
	up | down | restart-kafka | restart-redis) ;;
	*)
		echo "usage: $0 up|down|status|restart-kafka|restart-redis|env" >&2
		exit 2
		;;
	esac
	mkdir -p "$LOGS"
	# One harness command at a time (two `make test` runs, a fault test's
	# restart during an `up`): serialise on a lock file.
	exec 9>"$H/.lock"
	flock -w 600 9 || die "another harness command holds $H/.lock"
	case $cmd in
	up) cmd_up ;;
	down) cmd_down ;;
	restart-kafka) cmd_restart_kafka ;;
	restart-redis) cmd_restart_redis ;;
	esac
}

main "$@"
