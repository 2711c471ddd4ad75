#!/usr/bin/env bash
# Download Meta's official SAM 2.1 checkpoints into this folder (where sam2_ros looks by default).
#
#   model/download_checkpoints.sh            # all four (tiny small base_plus large)
#   model/download_checkpoints.sh tiny       # just the default model (configs/sam2.1/sam2.1_hiera_t.yaml)
#
# Uses curl, or wget when curl is missing. Files are downloaded to a temporary name and only
# renamed once complete, so an interrupted download never leaves a truncated checkpoint behind.
# Check a file with: sam2-ros check-model model/sam2.1_hiera_tiny.pt --config configs/sam2.1/sam2.1_hiera_t.yaml
set -euo pipefail

BASE_URL="${SAM2_CHECKPOINT_BASE_URL:-https://dl.fbaipublicfiles.com/segment_anything_2/092824}"
DEST="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ALL=(tiny small base_plus large)

usage() {
  echo "usage: $0 [tiny|small|base_plus|large|all]..." >&2
  exit 2
}

fetch() {
  local url="$1" out="$2"
  if command -v curl >/dev/null 2>&1; then
    curl --fail --location --retry 3 --progress-bar --output "$out" "$url"
  elif command -v wget >/dev/null 2>&1; then
    wget --tries=3 --show-progress --quiet --output-document="$out" "$url"
  else
    echo "error: neither curl nor wget is installed; install one of them and retry" >&2
    return 1
  fi
}

models=("$@")
[ ${#models[@]} -eq 0 ] && models=(all)
selected=()
for model in "${models[@]}"; do
  case "$model" in
    all) selected+=("${ALL[@]}") ;;
    tiny|small|base_plus|large) selected+=("$model") ;;
    -h|--help) usage ;;
    *) echo "error: unknown model '$model'" >&2; usage ;;
  esac
done

for model in "${selected[@]}"; do
  name="sam2.1_hiera_${model}.pt"
  if [ -s "$DEST/$name" ]; then
    echo "$name already present in $DEST (delete it to download again)"
    continue
  fi
  echo "downloading $name from $BASE_URL ..."
  if ! fetch "$BASE_URL/$name" "$DEST/$name.part"; then
    rm -f "$DEST/$name.part"
    echo "error: could not download $BASE_URL/$name (no network, proxy, or the file moved?)" >&2
    exit 1
  fi
  mv "$DEST/$name.part" "$DEST/$name"
  echo "saved $DEST/$name"
done
echo "done. If sam2_ros is installed (colcon or make setup), rebuild/reinstall so the node finds the files."
