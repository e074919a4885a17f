#!/usr/bin/env bash
# $1 is the positional "who"; named arguments arrive as --count=N.
echo "who=$1"
for arg in "$@"; do echo "arg=$arg"; done
