#!/usr/bin/env bash
# Writes the decompressed tables of each .twsnap file given (the input of the
# `tables` fuzz target) into fuzz/seeds/tables/, named after the file.
# Needs the zstd command-line tool.
set -euo pipefail
out="$(dirname "$0")/seeds/tables"
mkdir -p "$out"
for f in "$@"; do
    name="$(basename "$f" .twsnap)"
    tail -c +33 "$f" | zstd -dcq > "$out/$name"
    echo "$out/$name: $(wc -c < "$out/$name") bytes"
done
