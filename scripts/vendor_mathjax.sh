#!/usr/bin/env bash
# Put MathJax 3 (from the npm registry) under .vendor/mathjax so the site renders formulas
# offline. Without it the site falls back to the jsDelivr CDN.
set -euo pipefail
dest=".vendor/mathjax"
[[ -f "$dest/es5/tex-chtml.js" ]] && exit 0
if ! command -v npm >/dev/null; then
  echo "npm not found: the site will load MathJax from a CDN (install npm to vendor it)" >&2; exit 0
fi
tmp=$(mktemp -d)
(cd "$tmp" && npm pack --silent mathjax@3.2.2 >/dev/null && tar xzf mathjax-3.2.2.tgz)
mkdir -p "$dest"
rm -rf "$dest/es5"
cp -r "$tmp/package/es5" "$dest/es5"
rm -rf "$tmp"
