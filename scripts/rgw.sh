#!/usr/bin/env bash
# Single-node Ceph RGW for tests and measurements, loopback only.
#   scripts/rgw.sh start DIR PORT [memstore|bluestore]   -> prints "endpoint=http://127.0.0.1:PORT"
#   scripts/rgw.sh stop DIR                                -> kills the daemons it started (by PID)
# One mon (v2 on 127.0.0.1:PORT+1), one OSD (memstore by default), radosgw (beast on PORT).
# Creates user "shale" with access key SHALEKEY / secret SHALESECRET and bucket "shale".
# Needs radosgw ceph-mon ceph-osd ceph-common uuid-runtime curl (scripts/install-deps.sh).
set -euo pipefail
cmd=${1:?usage: rgw.sh start|stop DIR [PORT] [memstore|bluestore]}
D=${2:?DIR}
ACCESS=SHALEKEY
SECRET=SHALESECRET
BUCKET=shale

stop() {
  for n in rgw osd0 mon; do
    if [ -f "$D/$n.pid" ]; then
      pid=$(cat "$D/$n.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$D/$n.pid"
    fi
  done
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
[ "$cmd" = start ] || { echo "rgw.sh: unknown command $cmd" >&2; exit 2; }
PORT=${3:?PORT}
STORE=${4:-memstore}
MONPORT=$((PORT + 1))
for b in ceph-mon ceph-osd radosgw radosgw-admin ceph-authtool monmaptool uuidgen curl; do
  command -v $b >/dev/null || { echo "rgw.sh: $b missing (run scripts/install-deps.sh)" >&2; exit 1; }
done
[ -e "$D/rgw.pid" ] && stop
if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then
  echo "rgw.sh: something already answers on 127.0.0.1:$PORT" >&2
  exit 1
fi
rm -rf "$D"
mkdir -p "$D"/{mon,osd0,run,log}
D=$(cd "$D" && pwd)
FSID=$(uuidgen)
cat > "$D/ceph.conf" <<CONF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MONPORT
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms client mode = crc
ms mon client mode = crc
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
# A shared test machine can be nearly full; the monitor must still start (default: refuse below 5%).
mon data avail crit = 1
osd crush chooseleaf type = 0
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
keyring = $D/keyring
[mon]
mon data = $D/mon
[osd]
osd data = $D/osd\$id
osd objectstore = $STORE
memstore device bytes = 4294967296
bluestore block path = $D/osd0/block.file
bluestore block create = true
bluestore block size = 4294967296
osd memory target = 1073741824
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$PORT
# Deleted objects are freed at once, not after RGW's 2 h GC delay: a memstore holding ~1.5 GiB
# of deleted data took 768 MiB multipart PUTs at 75 MiB/s instead of 110-160 (BENCHMARKS.md 5m).
rgw gc obj min wait = 0
rgw gc processor period = 2
rgw gc processor max time = 2
CONF
C=(-c "$D/ceph.conf")
fail() {
  echo "rgw.sh: $*; logs in $D/log" >&2
  tail -n 20 "$D"/log/*.out "$D"/log/mon.a.log >&2 2>/dev/null || true
  df -h "$D" >&2 || true  # a nearly full disk keeps the monitor from starting
  stop
  exit 1
}
ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --addv a "[v2:127.0.0.1:$MONPORT]" --fsid "$FSID" "$D/monmap" >/dev/null
ceph-mon "${C[@]}" --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring" || fail "mon mkfs failed"
setsid ceph-mon "${C[@]}" -i a -f > "$D/log/mon.out" 2>&1 < /dev/null & echo $! > "$D/mon.pid"
timeout 60 ceph "${C[@]}" osd create > /dev/null ||
  fail "osd create failed (mon not up$(kill -0 "$(cat "$D/mon.pid")" 2>/dev/null || echo ': ceph-mon exited'))"
ceph-osd "${C[@]}" -i 0 --mkfs > "$D/log/osd-mkfs.out" 2>&1 || fail "osd mkfs failed"
setsid ceph-osd "${C[@]}" -i 0 -f > "$D/log/osd0.out" 2>&1 < /dev/null & echo $! > "$D/osd0.pid"
setsid radosgw "${C[@]}" -n client.rgw.a -f > "$D/log/rgw.out" 2>&1 < /dev/null & echo $! > "$D/rgw.pid"
for i in $(seq 240); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
  kill -0 "$(cat "$D/rgw.pid")" 2>/dev/null || fail "radosgw exited"
  [ "$i" = 240 ] && fail "radosgw did not answer on port $PORT within 120 s"
  sleep 0.5
done
radosgw-admin "${C[@]}" user create --uid=shale --display-name=shale \
  --access-key=$ACCESS --secret=$SECRET > /dev/null || fail "user create failed"
S=(--aws-sigv4 aws:amz:us-east-1:s3 --user "$ACCESS:$SECRET" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
code=$(curl -s -o "$D/log/mkbucket.out" -w '%{http_code}' "${S[@]}" -X PUT "http://127.0.0.1:$PORT/$BUCKET")
[ "$code" = 200 ] || fail "bucket create returned HTTP $code"
echo "endpoint=http://127.0.0.1:$PORT"
echo "uri=s3://$BUCKET/?endpoint=http://127.0.0.1:$PORT&region=us-east-1&path_style=true&access_key=$ACCESS&secret_key=$SECRET"
