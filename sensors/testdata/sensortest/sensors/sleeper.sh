#!/bin/sh
read -r init
read -r triggers
sleep 1000 &
echo "{\"dispatch\": {\"trigger\": \"sensortest.sleeper_event\", \"payload\": {\"pid\": $$, \"child\": $!}}}"
wait
