package scenario

import (
	"errors"
	"unicode"
	"unicode/utf8"

	"walship/engine/cluster"
)

// token is one word of a scenario line: a bare word or a quoted string
// (with its quotes and escapes removed).
type token = cluster.Word

// lexError is a lexing problem at a column, before file and line are known.
type lexError struct {
	col int
	msg string
}

// lex splits a line into tokens. Words are separated by spaces or tabs; a
// double-quoted string is one token, in which a backslash takes the next
// character literally (\" and \\), and which must be followed by a space
// or the end of the line. A # at the start of a word, outside quotes,
// begins a comment that runs to the end of the line. lex also returns the
// offset where the line's content ends (before any comment and trailing
// space), so that a command can be handed on as text.
func lex(line string) (toks []token, contentEnd int, err *lexError) {
	toks, serr := cluster.SplitWords(line, true)
	// cluster.SplitWords starts a new word right after a closing quote;
	// here that is a mistake, and the first one on the line (an unclosed
	// quote can only come later).
	for _, t := range toks {
		if t.Quoted && t.End < len(line) && line[t.End] != ' ' && line[t.End] != '\t' {
			return nil, 0, &lexError{t.End + 1, "expected a space after the closing quote"}
		}
	}
	var pe *cluster.ParseError
	if errors.As(serr, &pe) { // an unclosed quote
		return nil, 0, &lexError{pe.Column, "expected a closing quote"}
	}
	if len(toks) > 0 {
		contentEnd = toks[len(toks)-1].End
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
