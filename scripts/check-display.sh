#!/usr/bin/env bash
# `make run` needs a display; say so before a long build, in one sentence.
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "Homeline needs a graphical display and none was found (DISPLAY and WAYLAND_DISPLAY are unset); run it with: xvfb-run -a -s '-screen 0 1280x800x24' make run" >&2
  exit 2
fi
