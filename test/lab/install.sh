#!/bin/sh
# Installs what the NAT lab needs (Debian/Ubuntu), only when something is missing.
# CI calls this before `npm test`. Needs root.
set -eu
PKGS="iproute2 nftables iptables conntrack coturn mosquitto miniupnpd-nftables python3 stun-client"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "NAT lab packages present"
  exit 0
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# policy-rc.d keeps the daemons from autostarting on Debian images; the lab starts them itself.
apt-get install -y -q --no-install-recommends $missing
