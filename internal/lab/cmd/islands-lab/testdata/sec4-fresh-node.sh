#!/usr/bin/env bash
# testdata/sec4-fresh-node.sh DIR: a new, empty, secured Cassandra node as scripts/regions starts
# one (its cassandra.yaml, cassandra-secure.yaml, jvm17.options), on 127.0.9.1 (no address of the
# world), its own self-signed certificate ($DIR/ca.pem). Prints the JVM's pid; the node is up when
# 127.0.9.1:9042 answers. For TestAttackSec4QueriesTableShowsRolePasswords.
set -euo pipefail
umask 077
D=$1 IP=127.0.9.1
W=$(cd "$(dirname "$0")/../../../../../scripts/services" && pwd)
L=${ISLANDS_CACHE:-$HOME/.cache/islands}/cassandra-5.0.9/lib
mkdir -p "$D"/{conf,data,commitlog,saved_caches,hints,cdc_raw,triggers,logs}
keytool -genkeypair -alias node -keyalg EC -groupname secp256r1 -dname "CN=scratch" -ext san=ip:$IP \
	-keystore "$D/node.p12" -storetype PKCS12 -storepass scratchpw1 -validity 2 >/dev/null 2>&1
keytool -exportcert -rfc -alias node -keystore "$D/node.p12" -storepass scratchpw1 -file "$D/ca.pem" >/dev/null 2>&1
sed -e "s|@IP@|$IP|g" -e "s|@BROADCAST@|$IP|g" -e "s|@SEEDS@|$IP:7000|g" -e "s|@DIR@|$D|g" -e "s|@CLUSTER@|scratch|g" \
	"$W/cassandra.yaml" >"$D/conf/cassandra.yaml"
sed -e "s|@KEYSTORE@|$D/node.p12|g" -e "s|@KEYSTORE_PASSWORD@|scratchpw1|g" "$W/cassandra-secure.yaml" >>"$D/conf/cassandra.yaml"
printf 'dc=dc1\nrack=rack1\n' >"$D/conf/cassandra-rackdc.properties"
sed -e "s|@LOGDIR@|$D/logs|g" "$W/logback.xml" >"$D/conf/logback.xml"
mapfile -t opts < <(grep -v '^#' "$W/jvm17.options" | grep -v '^[[:space:]]*$')
jamm=$(ls "$L"/jamm-*.jar | head -n1)
java -Xms512m -Xmx512m -Xss512k "${opts[@]}" -javaagent:"$jamm" -Dcassandra.config="file://$D/conf/cassandra.yaml" \
	-Dcassandra.storagedir="$D" -Dcassandra.logdir="$D/logs" -Dcassandra.jmx.local.port=7299 \
	-Dlogback.configurationFile="file://$D/conf/logback.xml" -Dcassandra-foreground=yes \
	-Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=1000 -Dcassandra.superuser_setup_delay_ms=0 \
	-Dcassandra.migration_task_wait_in_seconds=1 -Dcassandra.memtable_row_overhead_computation_step=100 \
	-Dcassandra.triggers_dir="$D/triggers" -cp "$D/conf:$L/*" org.apache.cassandra.service.CassandraDaemon >"$D/out.log" 2>&1 &
echo $!
