#!/usr/bin/env bash
# Installs the system packages Fieldwatch needs, when missing: the mosquitto broker and
# clients (tests and demo start their own broker), libmosquitto-dev and libsqlite3-dev, tzdata
# (SLA calendars in site time zones), libcurl4 (webhooks), python3 (the tests' HTTP listener) and
# chromium (the dashboard's browser tests, headless); and from PyPI the reference decoders the
# payload-format agreement tests use (pysparkplug, protobuf, cbor2).
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -euo pipefail
packages=(mosquitto mosquitto-clients libmosquitto-dev libsqlite3-dev pkg-config openssl tzdata libcurl4 python3 python3-pip chromium)
missing=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in "${packages[@]}"; do have_pkg "$p" || missing+=("$p"); done
install_python_oracles() {
  python3 -c 'import cbor2, google.protobuf, pysparkplug' 2>/dev/null && return 0
  echo "installing Python packages for the format agreement tests: pysparkplug protobuf cbor2"
  python3 -m pip install -q --disable-pip-version-check pysparkplug protobuf cbor2 2>/dev/null ||
    python3 -m pip install -q --disable-pip-version-check --break-system-packages pysparkplug protobuf cbor2
}
if [ ${#missing[@]} -eq 0 ]; then install_python_oracles; exit 0; fi
cmd="apt-get update && apt-get install -y -qq --no-install-recommends --no-upgrade ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  echo "installing missing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends --no-upgrade "${missing[@]}" >/dev/null
else
  echo "missing system packages: ${missing[*]}" >&2
  echo "install them with:  sudo sh -c '$cmd'" >&2
  exit 1
fi
install_python_oracles
