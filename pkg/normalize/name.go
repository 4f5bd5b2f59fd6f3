// Package normalize holds pure normalisers for contact data: names and
// nicknames, email addresses, phone numbers (E.164), street addresses,
// postcodes and dates. Canonical applies them to a whole contact.Values at
// ingest; the matcher uses the stricter comparison forms (Name, EmailMatchKey,
// AddressTokens ...) to compare records.
//
// Every function is deterministic, safe for concurrent use and idempotent:
// applying a normaliser to its own output returns that output unchanged.
package normalize

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// letterFolds spells out letters that have no Unicode decomposition, so
// stripping accents alone would keep them apart from their usual ASCII
// spelling (Strauß / Strauss, Søren / Soren, Łukasz / Lukasz).
var letterFolds = map[rune]string{
	'ß': "ss", 'ẞ': "ss", 'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe",
	'ø': "o", 'Ø': "o", 'đ': "d", 'Đ': "d", 'ð': "d", 'Ð': "d",
	'þ': "th", 'Þ': "th", 'ł': "l", 'Ł': "l", 'ı': "i", 'ħ': "h", 'Ħ': "h",
}

// Name returns the comparison form of a personal or place name: compatibility
// normalised (NFKC, so full-width and ligature forms fold), accents stripped,
// lower case, apostrophes and dots dropped (O'Brien and J.R. stay one word),
// every other punctuation or symbol turned into a space, and spaces collapsed.
// Letters of non-Latin scripts and digits are kept. It is meant for matching,
// not for display: the values sent to target systems keep their case.
func Name(raw string) string {
	if isNameForm(raw) {
		return raw // already normalised: the common case inside the matcher
	}
	// Normalising can expose characters a previous pass would have treated
	// differently (a compatibility character that lower-cases into a combining
	// sequence, say); repeating until nothing changes makes Name idempotent
	// by construction. Two passes settle every input seen by the fuzzer.
	out := nameOnce(raw)
	for range 3 {
		next := nameOnce(out)
		if next == out {
			break
		}
		out = next
	}
	return out
}

// isNameForm reports whether s is already Name's output in plain ASCII:
// lower-case letters and digits in words separated by single spaces.
func isNameForm(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == ' ' && i > 0 && i < len(s)-1 && s[i-1] != ' ':
		default:
			return false
		}
	}
	return true
}

func nameOnce(raw string) string {
	s := norm.NFKC.String(raw)
	s = strings.ToLower(s)
	var folded strings.Builder
	folded.Grow(len(s))
	for _, r := range s {
		if f, ok := letterFolds[r]; ok {
			folded.WriteString(f)
			continue
		}
		folded.WriteRune(r)
	}
	s = norm.NFD.String(folded.String())

	var b strings.Builder
	b.Grow(len(s))
	pendingSpace := false
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r):
			// A combining accent: dropped so that é and e compare equal.
		case r == '\'' || r == '’' || r == '‘' || r == '`' || r == 'ʼ' || r == '.':
			// Joined, not split: "O'Brien" is one surname, "J.R." one initialism.
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if pendingSpace && b.Len() > 0 {
				b.WriteByte(' ')
			}
			pendingSpace = false
			b.WriteRune(r)
		default:
			pendingSpace = true
		}
	}
	return norm.NFC.String(b.String())
}

// Soundex returns the American Soundex code of a name (letter + three
// digits), or "" when the name holds no ASCII letter. It is used for
// blocking: two spellings that sound alike land in the same block even when
// a typo breaks exact keys.
func Soundex(name string) string {
	codes := [26]byte{
		'0', '1', '2', '3', '0', '1', '2', '0', '0', '2', '2', '4', '5',
		'5', '0', '1', '2', '6', '2', '3', '0', '1', '0', '2', '0', '2',
	}
	out := make([]byte, 0, 4)
	var last byte
	for _, r := range Name(name) {
		if r < 'a' || r > 'z' {
			continue
		}
		code := codes[r-'a']
		if len(out) == 0 {
			out = append(out, byte(unicode.ToUpper(r)))
			last = code
			continue
		}
		switch {
		case r == 'h' || r == 'w':
			// H and W do not separate letters with the same code.
			continue
		case code == '0':
			last = 0 // vowels separate: "Tymczak" codes both c and z
		case code != last:
			out = append(out, code)
			last = code
		}
		if len(out) == 4 {
			break
		}
	}
	if len(out) == 0 {
		return ""
	}
	for len(out) < 4 {
		out = append(out, '0')
	}
	return string(out)
}
