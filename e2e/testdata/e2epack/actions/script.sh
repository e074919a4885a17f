#!/usr/bin/env bash
# st2 passes named arguments (--count=N) first, then positional ones (who).
for arg in "$@"; do echo "arg=$arg"; done
