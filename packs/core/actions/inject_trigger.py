# Squall's own entry point for core.inject_trigger: hands the trigger to
# Squall's generic webhook (POST /api/v1/webhooks/st2), as st2's action
# service does, using the API URL and token the runner provides.
import json
import os
import urllib.request

from st2common.runners.base_action import Action


class InjectTriggerAction(Action):
    def run(self, trigger=None, trigger_name=None, payload=None, trace_tag=None):
        ref = trigger_name or trigger
        if not ref:
            raise ValueError("either trigger_name or trigger is required")
        url = os.environ.get("ST2_ACTION_API_URL", "http://127.0.0.1:9101/api/v1").rstrip("/")
        body = json.dumps({"trigger": ref, "payload": payload or {}, "trace_tag": trace_tag}).encode()
        req = urllib.request.Request(url + "/webhooks/st2", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        token = os.environ.get("ST2_ACTION_AUTH_TOKEN")
        if token:
            req.add_header("X-Auth-Token", token)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")
