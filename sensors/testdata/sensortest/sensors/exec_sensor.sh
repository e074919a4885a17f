#!/bin/sh
# A sensor speaking Squall's JSON-lines protocol (sensors/PROTOCOL.md).
read -r init
read -r triggers
echo '{"log": {"level": "warning", "message": "exec sensor up"}}'
echo '{"kv": {"op": "set", "name": "greeting", "value": "hi", "local": true}, "id": 1}'
read -r setres
echo '{"kv": {"op": "get", "name": "greeting", "local": true}, "id": 2}'
read -r getres
echo '{"kv": {"op": "frobnicate"}, "id": 3}'
read -r badres
echo "not a protocol message"
echo "{\"dispatch\": {\"trigger\": \"sensortest.exec_event\", \"payload\": {\"get\": $getres, \"bad\": $badres, \"init\": $init}, \"trace_tag\": \"exec-tag\", \"dedupe_key\": \"exec-1\"}}"
exec sleep 1000
