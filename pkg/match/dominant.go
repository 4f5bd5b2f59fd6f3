package match

// DominanceMargin is how much more weight, in bits, the best of several
// persons that each reach the link threshold must carry than the next one
// for a record to link to it: log2(100), the best person at least 100 times
// likelier than the runner-up. Within it, the record is ambiguous
// (multiple_persons) and a person decides.
//
// Persons that each reach the link threshold for one record are usually
// one person split by the arrival order (an early record that matched
// nothing well enough started a second person); the record plainly belongs
// with the best of them. Linking it there merges nothing: the persons stay
// apart until someone merges them. Two persons that fit the record about
// equally well (a duplicate person) stay a human decision.
const DominanceMargin = 6.643856189774724 // log2(100)

// dominates reports whether best outweighs the runner-up by the dominance
// margin, so that a record matching both links to best.
func dominates(best, runnerUp *Candidate) bool {
	return best != nil && runnerUp != nil && best.Weight-runnerUp.Weight >= DominanceMargin
}
