#!/usr/bin/env bash
# Real-services test harness: Apache Kafka (KRaft, one combined node), Redis,
# PostgreSQL (wal_level=logical), a Kafka Connect worker with the Debezium
# PostgreSQL connector and stripe-mock (Stripe's API, requests validated
# against its OpenAPI spec), as plain processes on 127.0.0.1 (CI machines
# have no Docker).
#
#   harness.sh up             install what is missing, start what is not running,
#                             write .harness/env (idempotent)
#   harness.sh down           stop the services this HARNESS_SESSION started
#   harness.sh status         show what runs
#   harness.sh restart-kafka  kill -9 the broker, start it on the same data, wait ready
#   harness.sh restart-redis  kill -9 Redis, start it on the same data (AOF), wait ready
#   harness.sh env            print .harness/env
#   harness.sh --help         this text
#
# HARNESS_SERVICES="svc ..." limits up, down and status to some of the
# services (kafka redis redistls rediscluster postgres connect stripemock),
# e.g. HARNESS_SERVICES=stripemock for stripe-mock alone.
#
# Besides the plain listeners it runs the secured ones the clients' TLS, SASL
# and Redis Cluster support is tested on: a SASL_SSL listener on the broker
# (SCRAM-SHA-256/512 and PLAIN, client certificates required), a TLS-only
# Redis with an ACL user (client certificates required) and a 3-node Redis
# Cluster. Certificates come from a CA generated at the first `up` into
# .harness/tls; passwords are random, in .harness/secrets. All loopback only.
#
# Several instances can run side by side (a developer's next to a shared
# one): HARNESS_PORT_OFFSET=N adds N to every port, HARNESS_STATE_DIR moves
# .harness (the default is per checkout).
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
H=${HARNESS_STATE_DIR:-$ROOT/.harness}
LOGS="$H/logs"
TLS="$H/tls"
SECRETS="$H/secrets"
SESSION=${HARNESS_SESSION:-manual}
CACHE=${CONTACTSYNC_HARNESS_CACHE:-$HOME/.cache/contactsync-harness}

OFFSET=${HARNESS_PORT_OFFSET:-0}
[[ $OFFSET =~ ^[0-9]+$ ]] && ((OFFSET <= 30000)) || { echo "harness: HARNESS_PORT_OFFSET must be 0..30000" >&2; exit 2; }
KAFKA_PORT=$((19092 + OFFSET))
KAFKA_CONTROLLER_PORT=$((19093 + OFFSET))
KAFKA_SASL_PORT=$((19094 + OFFSET))
REDIS_PORT=$((16379 + OFFSET))
REDIS_TLS_PORT=$((16380 + OFFSET))
# A cluster node also listens on its port + 10000 (the cluster bus).
REDIS_CLUSTER_PORTS=($((17001 + OFFSET)) $((17002 + OFFSET)) $((17003 + OFFSET)))
PG_PORT=$((15432 + OFFSET))
CONNECT_PORT=$((18083 + OFFSET))
KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
KAFKA_SASL_BROKERS="127.0.0.1:$KAFKA_SASL_PORT"
REDIS_ADDR="127.0.0.1:$REDIS_PORT"
REDIS_TLS_ADDR="127.0.0.1:$REDIS_TLS_PORT"
REDIS_CLUSTER_ADDRS=$(printf '127.0.0.1:%s,' "${REDIS_CLUSTER_PORTS[@]}")
REDIS_CLUSTER_ADDRS=${REDIS_CLUSTER_ADDRS%,}
PG_DSN="postgres://postgres@127.0.0.1:$PG_PORT/contactsync?sslmode=disable"
CONNECT_URL="http://127.0.0.1:$CONNECT_PORT"
# stripe-mock serves HTTP and HTTPS (it always opens both; both on loopback).
STRIPE_MOCK_PORT=$((12111 + OFFSET))
STRIPE_MOCK_HTTPS_PORT=$((12112 + OFFSET))
STRIPE_MOCK_URL="http://127.0.0.1:$STRIPE_MOCK_PORT"
# The one user of the secured listeners (SCRAM and PLAIN on the broker, an
# ACL user on the TLS Redis).
SECURE_USER=contactsync

KAFKA_CONF="$SCRIPT_DIR/kafka"
KAFKA_VERSION=$(sed -n 's#.*<kafka.version>\(.*\)</kafka.version>.*#\1#p' "$KAFKA_CONF/pom.xml")
KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"
CONNECT_CONF="$SCRIPT_DIR/connect"
DEBEZIUM_VERSION=$(sed -n 's#.*<debezium.version>\(.*\)</debezium.version>.*#\1#p' "$CONNECT_CONF/pom.xml")
# The worker's classpath and its plugin.path (one dir per plugin).
CONNECT_CACHE="$CACHE/connect-$KAFKA_VERSION-debezium-$DEBEZIUM_VERSION"
CONNECT_LIBS="$CONNECT_CACHE/libs"
CONNECT_PLUGINS="$CONNECT_CACHE/plugins"
# stripe-mock is a Go module, built with `go install` into the cache.
STRIPE_MOCK_VERSION=v0.203.0
STRIPE_MOCK_BIN="$CACHE/stripe-mock-$STRIPE_MOCK_VERSION/stripe-mock"

# In start order: connect needs kafka and postgres. `down` stops in reverse.
ALL_SERVICES=(kafka redis redistls rediscluster postgres connect stripemock)
SERVICES=("${ALL_SERVICES[@]}")
if [[ -n ${HARNESS_SERVICES:-} ]]; then
	SERVICES=()
	for svc in "${ALL_SERVICES[@]}"; do
		[[ " ${HARNESS_SERVICES//,/ } " == *" $svc "* ]] && SERVICES+=("$svc")
	done
	for svc in ${HARNESS_SERVICES//,/ }; do
		[[ " ${ALL_SERVICES[*]} " == *" $svc "* ]] || { echo "harness: HARNESS_SERVICES: unknown service $svc" >&2; exit 2; }
	done
fi
# wants SVC: SVC is one of the services this run handles.
wants() { [[ " ${SERVICES[*]} " == *" $1 "* ]]; }

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
	redis | redistls | rediscluster) echo redis-server ;;
	postgres) echo postgres ;;
	connect) echo ConnectStandalone ;;
	stripemock) echo stripe-mock ;;
	esac
}

# svc_pid SVC: print the pids of our SVC processes that still run (one line
# of the pid file each; the cluster has three), fail if none does.
svc_pid() {
	local f="$H/$1.pid" pid live=()
	[[ -f $f ]] || return 1
	while read -r pid; do
		[[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || continue
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(cmd_pattern "$1")" || continue
		live+=("$pid")
	done <"$f"
	((${#live[@]})) || return 1
	echo "${live[*]}"
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

# launched_alive SVC: true while a pid launch wrote for SVC still runs. The
# start-up wait checks this, not svc_pid: in the first moments after launch
# the pid is still the shell about to exec the service, whose command line
# does not name it yet (a fast first health check raced it and took a
# starting service for dead).
launched_alive() {
	local pid
	[[ -f "$H/$1.pid" ]] || return 1
	while read -r pid; do
		[[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && return 0
	done <"$H/$1.pid"
	return 1
}

# wait_ready SVC SECONDS CHECK...: poll CHECK until it succeeds; fail at the
# deadline or as soon as the service's process has died.
wait_ready() {
	local svc=$1 secs=$2 deadline=$((SECONDS + $2))
	shift 2
	until "$@"; do
		launched_alive "$svc" || { show_logs "$svc"; die "$svc: process exited while starting"; }
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

# The Connect worker's jars (connect/pom.xml, profile worker, at the broker's
# Kafka version) and the Debezium plugin's (profile plugin, without the
# Kafka jars Debezium was built against), the same way as the broker's.
connect_libs() {
	local want stamp="$CONNECT_CACHE/.pom.sha256"
	want=$(cat "$CONNECT_CONF/pom.xml" <(echo "$KAFKA_VERSION") | sha256sum | cut -d' ' -f1)
	[[ -f $stamp && $(<"$stamp") == "$want" ]] && return 0
	need_java
	local tmp="$CONNECT_CACHE/tmp.$$" profile
	mkdir -p "$CONNECT_CACHE"
	cp "$CONNECT_CONF/pom.xml" "$CONNECT_CACHE/pom.xml"
	rm -rf "$tmp"
	log "connect: fetching Kafka Connect $KAFKA_VERSION and Debezium $DEBEZIUM_VERSION jars with Maven into $CONNECT_CACHE"
	for profile in worker plugin; do
		mvn -B -q -Dstyle.color=never -f "$CONNECT_CACHE/pom.xml" -P "$profile" -Dkafka.version="$KAFKA_VERSION" \
			dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/$profile" \
			>"$LOGS/maven-connect.log" 2>&1 ||
			{ tail -n 30 "$LOGS/maven-connect.log" >&2; rm -rf "$tmp"; die "mvn could not fetch the Connect jars (log: $LOGS/maven-connect.log)"; }
	done
	# A Kafka jar in the plugin dir would shadow the worker's own version.
	! ls "$tmp/plugin" | grep -E '^(connect-|kafka-)' >&2 || { rm -rf "$tmp"; die "connect: Kafka jars in the plugin dir"; }
	rm -rf "$CONNECT_LIBS" "$CONNECT_PLUGINS" "$CONNECT_CACHE/target"
	mkdir -p "$CONNECT_PLUGINS"
	mv "$tmp/worker" "$CONNECT_LIBS"
	mv "$tmp/plugin" "$CONNECT_PLUGINS/debezium-connector-postgres"
	rm -rf "$tmp"
	echo "$want" >"$stamp"
}

# stripe-mock at the pinned version, built once into the cache (Go needed
# only then). The version is in the path, so a new pin builds anew.
need_stripe_mock() {
	[[ -x $STRIPE_MOCK_BIN ]] && return 0
	command -v go >/dev/null || die "stripemock: go is needed to install stripe-mock $STRIPE_MOCK_VERSION"
	local dir tmp
	dir=$(dirname "$STRIPE_MOCK_BIN")
	tmp="$dir.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	log "stripemock: go install github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION into $dir"
	GOBIN="$tmp" go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION" >"$LOGS/stripemock-install.log" 2>&1 ||
		{ tail -n 20 "$LOGS/stripemock-install.log" >&2; rm -rf "$tmp"; die "stripemock: go install failed"; }
	rm -rf "$dir"
	mv "$tmp" "$dir"
}

# ---------------------------------------------------------------- TLS and secrets

# A CA, a server certificate for 127.0.0.1/localhost and a client
# certificate, made once per state dir (services started later must trust
# the same CA as the clients of those already running). Kafka reads PEM
# keystores: broker-keystore.pem is the server's PKCS#8 key and certificate.
make_certs() {
	[[ -f $TLS/ca.pem && -f $TLS/server.pem && -f $TLS/client.pem && -f $TLS/broker-keystore.pem ]] && return 0
	command -v openssl >/dev/null || apt_install openssl
	log "tls: generating a CA and certificates in $TLS"
	rm -rf "$TLS.tmp"
	mkdir -p "$TLS.tmp"
	(
		cd "$TLS.tmp"
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.pem \
			-subj "/CN=contactsync test harness CA" \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
		local who
		for who in server client; do
			openssl req -newkey rsa:2048 -nodes -keyout "$who.key" -out "$who.csr" -subj "/CN=contactsync harness $who"
			printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=%sAuth\n' "$who" >"$who.ext"
			openssl x509 -req -days 3650 -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
				-extfile "$who.ext" -out "$who.pem"
		done
		cat server.key server.pem >broker-keystore.pem
		rm -f ./*.csr ./*.ext ca.srl
		chmod 600 ./*.key broker-keystore.pem
	) >"$LOGS/openssl.log" 2>&1 || { cat "$LOGS/openssl.log" >&2; die "tls: openssl failed"; }
	# The TLS Redis runs as this user; postgres (another user) never reads these.
	rm -rf "$TLS"
	mv "$TLS.tmp" "$TLS"
}

# secret NAME: print the password kept in .harness/secrets/NAME, making a
# random one first. Hex only, so it needs no quoting in config files.
secret() {
	local f="$SECRETS/$1"
	if [[ ! -s $f ]]; then
		mkdir -p "$SECRETS"
		chmod 700 "$SECRETS"
		(umask 077 && head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$f")
	fi
	cat "$f"
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
# grep -c, not -q: -q stops reading at the match, and when the broker has
# logged more than a pipe's worth after it, tail dies of SIGPIPE and, under
# pipefail, a started broker reads as not started until the timeout.
kafka_started() { tail -c "+$(($1 + 1))" "$LOGS/kafka/server.log" 2>/dev/null | grep -c 'Kafka Server started' >/dev/null; }

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
	# (a data dir made by an older harness has no secured listener)
	if grep -q '^listeners=.*SASL_SSL' "$H/kafka/server.properties"; then
		wait_ready kafka 30 port_open "$KAFKA_SASL_PORT"
	fi
}

# Fresh broker: new data dir, formatted with a random cluster id and the
# SCRAM credentials of the secured listener's user.
kafka_start_fresh() {
	local pw
	pw=$(secret kafka)
	rm -rf "$H/kafka"
	mkdir -p "$H/kafka/data" "$LOGS/kafka"
	sed -e "s#@DATA_DIR@#$H/kafka/data#g" -e "s#@PORT@#$KAFKA_PORT#g" \
		-e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" -e "s#@SASL_PORT@#$KAFKA_SASL_PORT#g" \
		-e "s#@TLS_DIR@#$TLS#g" -e "s#@USER@#$SECURE_USER#g" -e "s#@PASSWORD@#$pw#g" \
		"$KAFKA_CONF/server.properties.in" >"$H/kafka/server.properties"
	chmod 600 "$H/kafka/server.properties" # holds the PLAIN password
	# A cluster id is 16 random bytes in unpadded base64url (Kafka's Uuid.toString).
	local cid
	cid=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
	"${KAFKA_TOOL[@]}" kafka.tools.StorageTool format --standalone -t "$cid" \
		--add-scram "SCRAM-SHA-256=[name=$SECURE_USER,password=$pw]" \
		--add-scram "SCRAM-SHA-512=[name=$SECURE_USER,password=$pw]" \
		-c "$H/kafka/server.properties" >"$LOGS/kafka/format.log" 2>&1 ||
		{ cat "$LOGS/kafka/format.log" >&2; die "kafka: storage format failed"; }
	kafka_launch
}

kafka_stop() { stop_pid "$1" TERM 60; } # TERM = clean shutdown via the JVM hook

# A broker started by an older harness has no SASL_SSL listener: it is left
# alone (it may be shared), and the secured-listener variables stay unset.
kafka_secured() { port_open "$KAFKA_SASL_PORT"; }

# ---------------------------------------------------------------- redis

redis_pong() { [[ $(timeout 5 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; }
redis_healthy() { redis_pong "$REDIS_PORT"; }

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

# The TLS-only Redis: no plain port, client certificates required, the
# default user disabled and one ACL user with a password.
redis_tls_cli() {
	timeout 5 redis-cli --tls --cacert "$TLS/ca.pem" --cert "$TLS/client.pem" --key "$TLS/client.key" \
		-h 127.0.0.1 -p "$REDIS_TLS_PORT" --user "$SECURE_USER" --pass "$(secret redis)" --no-auth-warning "$@"
}

redistls_healthy() { [[ -f $TLS/ca.pem && $(redis_tls_cli ping 2>/dev/null) == PONG ]]; }

redistls_start_fresh() {
	local pid pw
	pw=$(secret redis)
	rm -rf "$H/redistls"
	mkdir -p "$H/redistls"
	pid=$(launch "$LOGS/redistls.log" redis-server --port 0 --tls-port "$REDIS_TLS_PORT" --bind 127.0.0.1 \
		--tls-cert-file "$TLS/server.pem" --tls-key-file "$TLS/server.key" --tls-ca-cert-file "$TLS/ca.pem" \
		--tls-auth-clients yes --daemonize no --save "" --appendonly no --dir "$H/redistls" --protected-mode yes \
		--user default off --user "$SECURE_USER" on ">$pw" "~*" "&*" "+@all")
	echo "$pid" >"$H/redistls.pid"
	wait_ready redistls 30 redistls_healthy
}

redistls_stop() { stop_pid "$1" TERM 30; }

# The Redis Cluster: three masters, no replicas, slots spread by
# `redis-cli --cluster create`.
cluster_ok() {
	local port
	for port in "${REDIS_CLUSTER_PORTS[@]}"; do
		timeout 5 redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
	done
}

rediscluster_healthy() { cluster_ok; }

rediscluster_start_fresh() {
	local port
	rm -rf "$H/rediscluster" "$H/rediscluster.pid"
	for port in "${REDIS_CLUSTER_PORTS[@]}"; do
		mkdir -p "$H/rediscluster/$port"
		launch "$LOGS/rediscluster-$port.log" redis-server --port "$port" --bind 127.0.0.1 \
			--cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
			--cluster-announce-ip 127.0.0.1 --daemonize no --save "" --appendonly no \
			--dir "$H/rediscluster/$port" --protected-mode yes >>"$H/rediscluster.pid"
	done
	for port in "${REDIS_CLUSTER_PORTS[@]}"; do
		wait_ready rediscluster 30 redis_pong "$port"
	done
	# shellcheck disable=SC2046 # one argument per node
	timeout 60 redis-cli --cluster create $(printf '127.0.0.1:%s ' "${REDIS_CLUSTER_PORTS[@]}") \
		--cluster-replicas 0 --cluster-yes \
		>"$LOGS/rediscluster-create.log" 2>&1 ||
		{ cat "$LOGS/rediscluster-create.log" >&2; die "rediscluster: cluster create failed"; }
	wait_ready rediscluster 60 cluster_ok
}

rediscluster_stop() {
	local pid
	for pid in $1; do stop_pid "$pid" TERM 30; done
}

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

postgres_healthy() { pg_healthy; }

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
# each connector holds a slot and a WAL sender; the Debezium tests run several at once
max_replication_slots = 32
max_wal_senders = 32
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

# ---------------------------------------------------------------- connect

# Healthy = the REST API answers and lists the Debezium PostgreSQL connector
# among its plugins (a worker without the plugin is of no use to the tests).
connect_healthy() {
	port_open "$CONNECT_PORT" &&
		curl -fsS --max-time 10 "$CONNECT_URL/connector-plugins" 2>/dev/null |
		grep -q 'io.debezium.connector.postgresql.PostgresConnector'
}

# A standalone worker (offsets in a file) with a fresh data dir. It starts
# no connector: tests register theirs over REST.
connect_start_fresh() {
	local pid
	rm -rf "$H/connect" "$LOGS/connect"
	mkdir -p "$H/connect" "$LOGS/connect"
	sed -e "s#@KAFKA_PORT@#$KAFKA_PORT#g" -e "s#@PORT@#$CONNECT_PORT#g" \
		-e "s#@PLUGIN_PATH@#$CONNECT_PLUGINS#g" -e "s#@DATA_DIR@#$H/connect#g" \
		"$CONNECT_CONF/worker.properties.in" >"$H/connect/worker.properties"
	pid=$(launch "$LOGS/connect/stdout.log" java -Xms128m -Xmx768m -XX:+UseSerialGC -Djava.awt.headless=true \
		-Dconnect.logs.dir="$LOGS/connect" -Dlog4j2.configurationFile="$CONNECT_CONF/log4j2.properties" \
		-cp "$CONNECT_LIBS/*" org.apache.kafka.connect.cli.ConnectStandalone "$H/connect/worker.properties")
	echo "$pid" >"$H/connect.pid"
	wait_ready connect 180 connect_healthy
}

connect_stop() { stop_pid "$1" TERM 60; } # TERM = the worker stops its tasks and flushes offsets

# ---------------------------------------------------------------- stripe-mock

# Healthy = it answers an API call as Stripe would (any sk_test_ key does).
stripemock_healthy() {
	port_open "$STRIPE_MOCK_PORT" &&
		curl -fsS --max-time 5 -u sk_test_harness: "$STRIPE_MOCK_URL/v1/customers/cus_harness" 2>/dev/null |
		grep -q '"object": *"customer"'
}

# stripe-mock keeps no state (every answer comes from its fixtures), so
# fresh and restarted are the same.
stripemock_start_fresh() {
	local pid
	pid=$(launch "$LOGS/stripemock.log" "$STRIPE_MOCK_BIN" \
		-http-addr "127.0.0.1:$STRIPE_MOCK_PORT" -https-addr "127.0.0.1:$STRIPE_MOCK_HTTPS_PORT")
	echo "$pid" >"$H/stripemock.pid"
	wait_ready stripemock 60 stripemock_healthy
}

stripemock_stop() { stop_pid "$1" TERM 10; }

# ---------------------------------------------------------------- commands

# ports_of SVC: every port SVC listens on, the one clients use first.
ports_of() {
	case $1 in
	kafka) echo "$KAFKA_PORT $KAFKA_SASL_PORT $KAFKA_CONTROLLER_PORT" ;;
	redis) echo "$REDIS_PORT" ;;
	redistls) echo "$REDIS_TLS_PORT" ;;
	rediscluster)
		local p
		for p in "${REDIS_CLUSTER_PORTS[@]}"; do echo -n "$p $((p + 10000)) "; done
		echo
		;;
	postgres) echo "$PG_PORT" ;;
	connect) echo "$CONNECT_PORT" ;;
	stripemock) echo "$STRIPE_MOCK_PORT $STRIPE_MOCK_HTTPS_PORT" ;;
	esac
}
port_of() { local p; read -r p _ <<<"$(ports_of "$1")"; echo "$p"; }

healthy() { "${1}_healthy"; }

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
	for port in $(ports_of "$svc"); do
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
		sed -n 's/^redis_version:\([^[:space:]]*\).*/\1/p') || true # (not running with HARNESS_SERVICES)
	pg_v=$(psql "$PG_DSN" -Atqc 'show server_version' 2>/dev/null | cut -d' ' -f1) || true
	cat >"$H/env.tmp" <<EOF
# Written by deploy/harness/harness.sh up: the real services for tests. Source it.
export KAFKA_BROKERS='$KAFKA_BROKERS'
export REDIS_ADDR='$REDIS_ADDR'
export PG_DSN='$PG_DSN'
export CONNECT_URL='$CONNECT_URL'
export STRIPE_MOCK_URL='$STRIPE_MOCK_URL'
export STRIPE_MOCK_VERSION='$STRIPE_MOCK_VERSION'
export DEBEZIUM_VERSION='$DEBEZIUM_VERSION'
export KAFKA_VERSION='$KAFKA_VERSION'
export REDIS_VERSION='$redis_v'
export PG_VERSION='$pg_v'
export HARNESS_DIR='$H'
export KAFKA_LIBS='$KAFKA_LIBS'
export HARNESS_SH='$SCRIPT_DIR/harness.sh'
export HARNESS_PORT_OFFSET='$OFFSET'
export HARNESS_STATE_DIR='$H'
# Secured services (tests of TLS, SASL and Redis Cluster). The names differ
# from the services' own settings (KAFKA_TLS_CA_FILE, REDIS_PASSWORD, ...) so
# that sourcing this file secures no client by accident.
export HARNESS_CA_FILE='$TLS/ca.pem'
export HARNESS_CLIENT_CERT_FILE='$TLS/client.pem'
export HARNESS_CLIENT_KEY_FILE='$TLS/client.key'
export REDIS_TLS_ADDR='$REDIS_TLS_ADDR'
export REDIS_ACL_USER='$SECURE_USER'
export REDIS_ACL_PASSWORD_FILE='$SECRETS/redis'
export REDIS_CLUSTER_ADDRS='$REDIS_CLUSTER_ADDRS'
EOF
	if kafka_secured; then
		cat >>"$H/env.tmp" <<EOF
export KAFKA_SASL_BROKERS='$KAFKA_SASL_BROKERS'
export KAFKA_SCRAM_USER='$SECURE_USER'
export KAFKA_SCRAM_PASSWORD_FILE='$SECRETS/kafka'
EOF
	elif wants kafka; then
		log "kafka: the running broker has no SASL_SSL listener on $KAFKA_SASL_PORT (started by an older harness):" \
			"KAFKA_SASL_BROKERS stays unset; restart it (down, up) to test SASL/TLS"
	fi
	mv "$H/env.tmp" "$H/env"
}

cmd_up() {
	local t0=$SECONDS svc
	# Tools first: the health checks need redis-cli, psql and the Kafka CLI jars.
	if wants kafka || wants connect; then kafka_libs; fi
	if wants connect; then connect_libs; fi
	if wants redis || wants redistls || wants rediscluster; then need_redis; fi
	if wants postgres; then need_postgres; fi
	if wants kafka || wants redistls; then make_certs; fi
	if wants stripemock; then need_stripe_mock; fi
	for svc in "${SERVICES[@]}"; do up_service "$svc"; done
	write_env
	log "up in $((SECONDS - t0))s; env in $H/env"
}

cmd_down() {
	local svc owner pid i
	for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
		svc=${SERVICES[i]}
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
	for svc in "${ALL_SERVICES[@]}"; do
		! port_open "$(port_of "$svc")" || return 0
	done
	rm -f "$H/env"
}

cmd_status() {
	local svc pid state
	for svc in "${SERVICES[@]}"; do
		if healthy "$svc"; then state=healthy; elif svc_pid "$svc" >/dev/null; then state=unhealthy; else state=stopped; fi
		pid=$(svc_pid "$svc" || echo -)
		printf '%-12s %-9s 127.0.0.1:%-6s pid %-8s owner %s\n' "$svc" "$state" "$(port_of "$svc")" "$pid" \
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
	-h | --help | help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
		return
		;;
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
