#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs one test program under a hard time bound: a hang is a failure.
exec timeout --kill-after=10 300 "$@"
