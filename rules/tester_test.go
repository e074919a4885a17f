package rules

import (
	"strings"
	"testing"

	"github.com/squall-automation/squall/pack"
)

// The rule and trigger instances of st2's "Testing Rules" documentation.
var ircRule = pack.Rule{
	Name: "relayed_matched_irc_message", Pack: "irc", Enabled: true,
	Trigger:  pack.RuleTrigger{Type: "irc.pubmsg", Parameters: map[string]any{}},
	Criteria: map[string]any{"trigger.message": crit("icontains", "StackStorm")},
	Action: pack.RuleAction{Ref: "slack.post_message", Parameters: map[string]any{
		"message": "{{ trigger.source.nick }} on {{ trigger.channel }}: {{ trigger.message }}",
		"channel": "#irc-relay",
		"ts":      "{{ trigger.timestamp }}",
	}},
}

const instanceMatch = `
trigger: "irc.pubmsg"
payload:
  source:
    nick: "Kami_"
    host: "gateway/web/irccloud.com/x-uvv"
  channel: "#stackstorm"
  timestamp: 1419166748
  message: "stackstorm is cool!"
`

const instanceNoMatch = `{"trigger": "irc.pubmsg", "payload": {"source": {"nick": "Kami_"}, "channel": "#stackstorm", "message": "blah blah"}}`

func TestRuleTester(t *testing.T) {
	ti, err := ReadTriggerInstance([]byte(instanceMatch))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Test(ircRule, ti)
	if err != nil || !res.Matched {
		t.Fatalf("Test = %+v, %v; want a match", res, err)
	}
	if got := res.ActionParams["message"]; got != "Kami_ on #stackstorm: stackstorm is cool!" {
		t.Errorf("message = %#v", got)
	}
	if n, ok := toNum(res.ActionParams["ts"]); !ok || n.i != 1419166748 {
		t.Errorf("ts = %#v, want the number", res.ActionParams["ts"])
	}

	ti, err = ReadTriggerInstance([]byte(instanceNoMatch))
	if err != nil {
		t.Fatal(err)
	}
	res, err = Test(ircRule, ti)
	if err != nil || res.Matched || res.FailedCriterion != "trigger.message" {
		t.Fatalf("Test = %+v, %v; want no match on trigger.message", res, err)
	}
	if !strings.Contains(res.Reason, `"blah blah"`) || !strings.Contains(res.Reason, "icontains") {
		t.Errorf("Reason %q should show the type and payload", res.Reason)
	}
}

func TestRuleTesterIgnoresEnabledChecksTrigger(t *testing.T) {
	ti, _ := ReadTriggerInstance([]byte(instanceMatch))
	disabled := ircRule
	disabled.Enabled = false
	if res, err := Test(disabled, ti); err != nil || !res.Matched {
		t.Errorf("disabled rule: %+v, %v; st2-rule-tester tests it anyway", res, err)
	}
	other := ircRule
	other.Trigger.Type = "slack.message"
	if res, err := Test(other, ti); err != nil || res.Matched || !strings.Contains(res.Reason, "slack.message") {
		t.Errorf("other trigger: %+v, %v; want no match naming the trigger", res, err)
	}
}

func TestRuleTesterParameterFailure(t *testing.T) {
	r := ircRule
	r.Action.Parameters = map[string]any{"x": "{{ trigger.nope }}"}
	ti, _ := ReadTriggerInstance([]byte(instanceMatch))
	res, err := Test(r, ti)
	if err != nil || res.Matched || res.Err == nil || !strings.Contains(res.Reason, "action parameters") {
		t.Fatalf("Test = %+v, %v; want a non-match with the render error", res, err)
	}
}

func TestReadTriggerInstanceErrors(t *testing.T) {
	for doc, want := range map[string]string{
		`payload: {a: 1}`:              "trigger",
		`{trigger: x, payload: [1]}`:   "payload must be a mapping",
		`{trigger: x, extra: 1}`:       `unknown key "extra"`,
		`- a`:                          "must be a mapping",
		`{trigger: x, payload: {a: 1}`: "trigger instance",
		"trigger: x\noccurrence_time: 2015-12-11T14:35:03Z\nstatus: processed\nid: abc": "",
	} {
		_, err := ReadTriggerInstance([]byte(doc))
		if want == "" {
			if err != nil {
				t.Errorf("%q: %v", doc, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", doc, err, want)
		}
	}
	if _, err := Test(ircRule, map[string]any{"payload": map[string]any{}}); err == nil {
		t.Error("Test without trigger: want an error")
	}
}
