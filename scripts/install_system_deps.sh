#!/usr/bin/env bash
# Debian packages the report needs: TeX Live (latexmk, pdflatex, bibtex; texlive-publishers for the
# venue classes IEEEtran, llncs and acmart of [paper] class) for the paper, poppler for PDF checks,
# Chromium for the browser tests. Installs only what is missing; needs root
# (or sudo) for apt-get. Pass --browser to include Chromium.
set -euo pipefail
need=()
command -v latexmk >/dev/null || need+=(latexmk)
command -v pdflatex >/dev/null || need+=(texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended lmodern)
kpsewhich plainnat.bst >/dev/null 2>&1 || need+=(texlive-bibtex-extra texlive-latex-extra)
for cls in IEEEtran.cls llncs.cls acmart.cls; do
  kpsewhich "$cls" >/dev/null 2>&1 || { need+=(texlive-publishers); break; }
done
command -v pdftoppm >/dev/null || need+=(poppler-utils)
if [[ "${1:-}" == "--browser" ]]; then
  command -v chromium >/dev/null || need+=(chromium fonts-dejavu-core)
fi
command -v npm >/dev/null || need+=(npm)
if [[ ${#need[@]} -eq 0 ]]; then exit 0; fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "missing Debian packages: ${need[*]}; run as root: apt-get install ${need[*]}" >&2; exit 1; fi
fi
echo "installing Debian packages: ${need[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
