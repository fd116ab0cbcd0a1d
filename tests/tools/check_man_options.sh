#!/bin/sh
# Every option that --help lists must be documented in the man page.
# Usage: check_man_options.sh BINARY MANPAGE
set -eu
binary=$1
manpage=$2
missing=0
# "-o name=ARG  text" and "-x, --long" lines of --help.
for opt in $("$binary" --help | sed -n 's/^    -o \([a-z_]*=\{0,1\}\).*/\1/p'); do
	# roff escapes '-' as '\-'; options are written .B name or .BI name= ARG.
	if ! grep -q -- "^\.BI\{0,1\} $(printf %s "$opt" | sed 's/-/\\\\-/g')\( \|$\)" "$manpage"; then
		echo "man page $manpage does not document -o $opt"
		missing=1
	fi
done
# Flags: "-x", "-x, --long", "--long=ARG" at the start of a --help line.
flags=$("$binary" --help | sed -n 's/^    \(-[a-zA-Z]\)\(, \(--[a-z-]*\)\)\{0,1\}.*/\1 \3/p; s/^    \(--[a-z-]*\).*/\1/p')
for flag in $flags; do
	esc=$(printf %s "$flag" | sed 's/-/\\\\-/g')
	grep -q -- "$esc" "$manpage" || { echo "man page does not document $flag"; missing=1; }
done
[ $missing -eq 0 ] && echo "every --help option is in $manpage"
exit $missing
