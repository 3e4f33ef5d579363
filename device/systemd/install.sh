#!/usr/bin/env bash
# Installs emoedge on a Raspberry Pi (Raspberry Pi OS Bookworm, 64-bit) as
# a systemd service, from a copy of the repository and an aarch64 binary:
#
#   sudo device/systemd/install.sh target/aarch64-unknown-linux-gnu/release/emoedge
#
# Layout: /opt/emoedge/bin/emoedge, /opt/emoedge/boards/*.toml,
# /opt/emoedge/models/*.emo, /opt/emoedge/share/emoedge/demo/ (the demo
# replay), /etc/systemd/system/emoedge.service; user `emoedge` in the
# video, audio and gpio groups; the log in /var/lib/emoedge/.
# Run it again to update: the service is restarted, the log is kept.
set -euo pipefail
bin=${1:?usage: install.sh PATH/TO/aarch64/emoedge}
repo="$(cd "$(dirname "$0")/../.." && pwd)"
prefix=/opt/emoedge
if [ "$(id -u)" -ne 0 ]; then
    echo "run as root (sudo)" >&2
    exit 1
fi
"$bin" --version >/dev/null || {
    echo "$bin does not run on this machine: is it the aarch64 build?" >&2
    exit 1
}
apt-get install -y --no-install-recommends libasound2 >/dev/null
id emoedge >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin emoedge
for g in video audio gpio; do
    getent group "$g" >/dev/null && usermod -aG "$g" emoedge
done
install -d "$prefix/bin" "$prefix/boards" "$prefix/models" "$prefix/share/emoedge/demo/frames"
install -m 0755 "$bin" "$prefix/bin/emoedge"
install -m 0644 "$repo"/boards/*.toml "$prefix/boards/"
install -m 0644 "$repo"/models/*.emo "$prefix/models/"
install -m 0644 "$repo"/models/*.md "$repo"/models/LICENSE-* "$prefix/models/" 2>/dev/null || true
install -m 0644 "$repo"/device/assets/demo/speech.flac "$repo"/device/assets/demo/README.md \
    "$prefix/share/emoedge/demo/"
install -m 0644 "$repo"/device/assets/demo/frames/*.jpg "$prefix/share/emoedge/demo/frames/"
install -m 0644 "$repo"/README.md "$prefix/README.md"
install -m 0644 "$repo"/device/systemd/emoedge.service /etc/systemd/system/emoedge.service
ln -sf "$prefix/bin/emoedge" /usr/local/bin/emoedge
systemctl daemon-reload
echo "self-test:"
sudo -u emoedge "$prefix/bin/emoedge" check || echo "(fix what failed above, then: sudo systemctl restart emoedge)"
systemctl enable emoedge.service
systemctl restart emoedge.service
echo "installed; follow it with: journalctl -u emoedge -f"
