package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Search attributes carried by every execution so that the Temporal Web UI
// and the API can filter on them. SQL visibility allows ten Keyword
// attributes per namespace; Squall uses nine and keeps one spare.
var (
	AttrStatus          = temporal.NewSearchAttributeKeyKeyword("SquallStatus")
	AttrAction          = temporal.NewSearchAttributeKeyKeyword("SquallAction")
	AttrPack            = temporal.NewSearchAttributeKeyKeyword("SquallPack")
	AttrRunner          = temporal.NewSearchAttributeKeyKeyword("SquallRunner")
	AttrUser            = temporal.NewSearchAttributeKeyKeyword("SquallUser")
	AttrRule            = temporal.NewSearchAttributeKeyKeyword("SquallRule")
	AttrTrigger         = temporal.NewSearchAttributeKeyKeyword("SquallTrigger")
	AttrTriggerInstance = temporal.NewSearchAttributeKeyKeyword("SquallTriggerInstance")
	AttrParent          = temporal.NewSearchAttributeKeyKeyword("SquallParent")
)

// SearchAttributes lists the custom search attributes the Squall namespace
// must have, for namespace setup (embedded server or operator tooling).
func SearchAttributes() map[string]enumspb.IndexedValueType {
	out := map[string]enumspb.IndexedValueType{}
	for _, k := range []temporal.SearchAttributeKeyKeyword{
		AttrStatus, AttrAction, AttrPack, AttrRunner, AttrUser,
		AttrRule, AttrTrigger, AttrTriggerInstance, AttrParent,
	} {
		out[k.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return out
}
