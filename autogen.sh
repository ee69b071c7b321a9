#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
set -e
cd "$(dirname "$0")"
# m4/ holds only what libtoolize copies (it is not in git): made first,
# or aclocal warns that AC_CONFIG_MACRO_DIR names no directory.
mkdir -p m4
# Silent when all is well: libtoolize and automake list every auxiliary
# file they copy, which says nothing; warnings and errors still show (all
# of the output, when autoreconf fails).
out=$(LIBTOOLIZE="${LIBTOOLIZE:-libtoolize} --quiet" \
	autoreconf --install --force --warnings=all 2>&1) ||
	{ printf '%s\n' "$out" >&2; exit 1; }
printf '%s\n' "$out" | grep -v -e ": installing '" -e '^$' >&2 || true
