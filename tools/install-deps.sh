#!/bin/sh
# Installs the Debian packages that building, running and testing ngx_mdm
# need. Idempotent and non-interactive; run as root (or through sudo).
#   install-deps.sh              install whatever is missing
#   install-deps.sh --if-missing same, but silent when nothing is missing
set -eu

PACKAGES="
    build-essential pkg-config
    nginx nginx-dev libpcre2-dev zlib1g-dev
    redis-server
    libhiredis-dev libplist-dev libmsgpack-dev libnghttp2-dev
    libjansson-dev libev-dev libssl-dev openssl libcurl4-openssl-dev
    libjose-dev libcbor-dev python3-acme
    perl libio-socket-ssl-perl curl
    certmonger
    clang libclang-rt-14-dev
    debhelper dpkg-dev fakeroot lintian
    libyaml-libyaml-perl python3 python3-yaml python3-cryptography
    stress-ng
"

missing=
for p in $PACKAGES; do
    status=$(dpkg-query -W -f '${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *" installed") ;;
        *) missing="$missing $p" ;;
    esac
done

if [ -z "$missing" ]; then
    [ "${1:-}" = "--if-missing" ] || echo "deps: all packages present"
    exit 0
fi

echo "deps: installing$missing"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# The nginx package starts the system nginx on port 80; ngx_mdm runs its own
# instances and must not leave a system service behind it.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing
