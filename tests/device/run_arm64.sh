#!/bin/sh
# `make test-arm64`: the voxport wheel built from this checkout, run on Debian bookworm arm64 under qemu-user.
#   1. a cached arm64 root (tests/device/arm64_root.sh);
#   2. the wheel, built here; the default voice's bundle and the host's onnxruntime fp32 audio
#      (tests/device/host_reference.py), all put in the root's /voxport-shared;
#   3. the wheel installed without torch into the root's venv, with openvino and pytest (aarch64 wheels);
#   4. the device suite (tests/device/test_arm64.py) in two views of the root, because qemu-user crashes
#      onnxruntime when the host's /sys is visible and OpenVINO's compiler when it is not;
#   5. a summary (tests/device/summary.py): what passed, what skipped and why, the audio against the host's.
# Proves correctness on ARM, never speed. Takes about 20 minutes on 2 cores (docs/arm64.md).
# VOXPORT_DEVICE_CALIBRATED_BUNDLE=DIR also loads DIR (a host-calibrated bundle) with precision="calibrated".
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
py="${PY:-$repo/.venv/bin/python}"
timeout_s="${VOXPORT_ARM64_TIMEOUT:-2400}"  # per view: a hung emulation is reported, not waited on forever

start=$(date +%s)
step() { echo "$1 $(( $(date +%s) - start ))" >>"$shared/timings.txt"; echo "[arm64] $1 ($(( $(date +%s) - start )) s)"; }

root=$(sh "$here/arm64_root.sh")
shared="$root/voxport-shared"
rm -rf "$shared"
mkdir -p "$shared/tests"
step "arm64 root ready (cached or built)"

"$py" -m build --wheel --outdir "$shared" "$repo" >"$shared/build.log" 2>&1 || { cat "$shared/build.log"; exit 1; }
wheel=$(basename "$(ls "$shared"/voxport-*.whl)")
step "wheel built"

"$py" "$here/host_reference.py" "$shared"
cp "$here/test_arm64.py" "$here/ov_case.py" "$shared/tests/"
calibrated=""
if [ -n "${VOXPORT_DEVICE_CALIBRATED_BUNDLE:-}" ]; then
    cp -r "$VOXPORT_DEVICE_CALIBRATED_BUNDLE" "$shared/calibrated"
    calibrated=/voxport-shared/calibrated
fi
step "host reference written"

cp /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" /opt/voxport-venv/bin/python -m pip install --quiet --force-reinstall --no-deps "/voxport-shared/$wheel"
chroot "$root" /opt/voxport-venv/bin/python -m pip install --quiet "/voxport-shared/$wheel[openvino]" "pytest>=8"
step "device venv ready"

# One view: /proc and /dev always; /sys only in the "sys" view. A private mount namespace undoes the mounts
# when the view ends, however it ends.
run_view() {
    view=$1
    sys_mount=""
    [ "$view" = sys ] && sys_mount="mount --bind /sys '$root/sys' &&"
    status=0
    timeout "$timeout_s" unshare -m sh -c "mount --bind /proc '$root/proc' && mount --bind /dev '$root/dev' && \
        $sys_mount chroot '$root' /usr/bin/env -i PATH=/opt/voxport-venv/bin:/usr/bin:/bin HOME=/root \
        VOXPORT_DEVICE_VIEW=$view VOXPORT_DEVICE_SHARED=/voxport-shared VOXPORT_CACHE_DIR=/tmp/voxport-cache \
        VOXPORT_DEVICE_CALIBRATED_BUNDLE=$calibrated \
        python -m pytest -rA -p no:cacheprovider --durations=0 --junitxml=/voxport-shared/junit-$view.xml \
        /voxport-shared/tests/test_arm64.py" >"$shared/pytest-$view.log" 2>&1 || status=$?
    echo "$status" >"$shared/rc-$view"
    tail -n 5 "$shared/pytest-$view.log"
    step "device pytest, $view view"
}

run_view no-sys
run_view sys
"$py" "$here/summary.py" "$shared" | tee "$shared/summary.txt"
