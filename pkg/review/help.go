package review

import (
	"strings"

	"github.com/contactsync/contactsync/pkg/pipeline"
)

// ReasonHelp explains a kick-out reason code to a data manager: what went
// wrong and what to do. Unknown codes get the help of their family.
func ReasonHelp(reason string) string {
	if h, ok := reasonHelp[reason]; ok {
		return h
	}
	family, _, _ := strings.Cut(reason, ".")
	if h, ok := reasonHelp[family+".*"]; ok {
		return h
	}
	return "The pipeline could not process this record safely. Read the error, fix the data or the rules, then replay."
}

var reasonHelp = map[string]string{
	pipeline.ReasonInvalidField: "A value is not usable (for example an email address or phone number that cannot be right). " +
		"Correct the value in the payload and press Fix & resubmit, or fix it in the source system.",
	pipeline.ReasonMatchAmbiguous: "The record looks like more than one existing person, or the evidence is not strong enough " +
		"to link it safely. Check the candidates in the explanation, merge or correct the people in the system of record, then replay.",
	pipeline.ReasonMatchPendingDecision: "An earlier event of this record was kicked out as match.ambiguous and waits for a decision " +
		"(the error names its event). Decide that kick-out first; deciding it replays this one too.",
	pipeline.ReasonAvro: "An internal record could not be read (wrong schema or corrupt bytes). This usually needs a developer.",
	pipeline.ReasonUnknownFormat: "A replayed record did not say its format. Replay the original kick-out from the dashboard, " +
		"which sets the format.",
	pipeline.ReasonUnknownTopic: "The record arrived on a topic the pipeline has no decoder for. Check the topic configuration.",
	pipeline.ReasonReplayLimit:  "This record was replayed too often and keeps failing. Fix the cause before replaying it again.",
	pipeline.ReasonInternal:     "The pipeline hit an internal error on this record. Report it to a developer; replay it after the fix.",
	"ingest.error":              "The record could not be turned into a contact change. Read the error, correct the payload, then replay.",
	"decode.*": "The record could not be read: it is not valid JSON, or a required part is missing. Complete or correct " +
		"the payload and press Fix & resubmit.",
	"validate.*": "A value failed validation. Correct it in the payload and press Fix & resubmit.",
	"rules.*":    "The field rules refused this change. Check the rules configuration; replay after the rule or data fix.",
	"route.*":    "The change could not be routed to its target systems. Check the rules configuration, then replay.",
	"match.*":    "The record could not be matched to a person safely. Check the explanation, then replay after fixing the data.",
}
