package scenario

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// token is one word of a scenario line: a bare word or a quoted string
// (with its quotes and escapes removed).
type token struct {
	text   string
	col    int // 1-based byte column where the word (or its opening quote) starts
	end    int // 0-based byte offset just past the word
	quoted bool
}

// lexError is a lexing problem at a column, before file and line are known.
type lexError struct {
	col int
	msg string
}

// lex splits a line into tokens. Words are separated by spaces or tabs; a
// double-quoted string is one token, in which a backslash takes the next
// character literally (\" and \\). A # at the start of a word, outside
// quotes, begins a comment that runs to the end of the line. lex also
// returns the offset where the line's content ends (before any comment and
// trailing space), so that a command can be handed on as text.
func lex(line string) (toks []token, contentEnd int, err *lexError) {
	i := 0
	for i < len(line) {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) || line[i] == '#' {
			break
		}
		start := i
		if line[i] == '"' {
			var b strings.Builder
			j := i + 1
			for j < len(line) && line[j] != '"' {
				if line[j] == '\\' && j+1 < len(line) {
					j++
				}
				b.WriteByte(line[j])
				j++
			}
			if j >= len(line) {
				return nil, 0, &lexError{start + 1, "expected a closing quote"}
			}
			j++
			if j < len(line) && line[j] != ' ' && line[j] != '\t' {
				return nil, 0, &lexError{j + 1, "expected a space after the closing quote"}
			}
			toks = append(toks, token{text: b.String(), col: start + 1, end: j, quoted: true})
			i = j
			continue
		}
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		toks = append(toks, token{text: line[start:i], col: start + 1, end: i})
	}
	if len(toks) > 0 {
		contentEnd = toks[len(toks)-1].end
	}
	return toks, contentEnd, nil
}

// printable reports whether s is valid UTF-8 free of control characters,
// so a caption or title cannot move the cursor or change colours when drawn.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
