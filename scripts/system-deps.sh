#!/usr/bin/env bash
# Install the system packages Latent Lab uses, where this user can (root or password-less sudo):
#   fluidsynth + fluid-soundfont-gm  render MIDI and make training audio (FluidR3_GM)
#   ffmpeg                           read mp3 / m4a uploads
#   chromium                         the browser tests (only with --test)
# Without them the app still runs: playback falls back to a built-in synth, and the commands that
# need them say what to install.
set -u
packages=(fluidsynth fluid-soundfont-gm ffmpeg)
[ "${1:-}" = "--test" ] && packages+=(chromium)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: not a Debian/Ubuntu system; please install: ${missing[*]}" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then sudo=""
elif sudo -n true 2>/dev/null; then sudo="sudo -n"
else
  echo "note: cannot install system packages without root; run: sudo apt-get install ${missing[*]}" >&2
  exit 0
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null || true
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || echo "note: apt-get could not install ${missing[*]}; the features that need them will say so" >&2
exit 0
