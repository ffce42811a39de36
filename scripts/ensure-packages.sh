#!/bin/sh
# Install the Debian packages named as arguments when they are missing and
# apt-get is usable as root. Never fails the build: a test that needs a missing
# package is skipped with a message naming it.
#
#   sh scripts/ensure-packages.sh dataset-fashion-mnist bubblewrap
set -u
missing=""
for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian packages:$missing ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 \
        || echo "warning: could not install$missing; tests that need them will be skipped" >&2
else
    echo "note: missing Debian packages:$missing (apt-get is not usable as root);" \
         "install them, or set KERASDL_DATA_DIR to a folder holding the four" \
         "Fashion-MNIST .gz files" >&2
fi
exit 0
