#!/usr/bin/env bash
# Installs a software Vulkan driver (Mesa's lavapipe from bookworm-backports) so onnxruntime-node's
# WebGPU provider finds an adapter on a machine without a GPU (docs/ONNXRUNTIME.md). Idempotent.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
if ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && \
   dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q bpo; then
  exit 0
fi
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1
