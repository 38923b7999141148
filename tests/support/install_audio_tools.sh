#!/bin/sh
# Debian packages the PulseAudio playback test (tests/test_playback_pulse.py) needs: a PulseAudio server with a
# null sink, parec to record its monitor, PortAudio (what sounddevice loads) and ALSA's pulse plugin (how PortAudio
# reaches PulseAudio). Idempotent: installs only what is missing; where apt is unavailable it says so and exits 0,
# and the test then skips naming the missing piece.
PACKAGES="pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins"
missing=""
for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -z "$missing" ]; then
    echo "[audio-tools] installed:$(printf ' %s' $PACKAGES)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "[audio-tools] apt-get unavailable; not installing:$missing (tests/test_playback_pulse.py will skip)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
        echo "[audio-tools] not root and no passwordless sudo; not installing:$missing (the test will skip)"
        exit 0
    fi
fi
echo "[audio-tools] installing:$missing"
# Package lists may be absent on a fresh image; update once only when the first install fails.
if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1; then
    $SUDO apt-get update -q >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 \
        || echo "[audio-tools] apt-get install failed for:$missing (the test will skip)"
fi
exit 0
