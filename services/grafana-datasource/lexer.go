package grafanads

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// The raw SQL of a sql query is split into tokens the way ClickHouse's
// lexer splits it, so that macros are expanded only where they are code
// (never inside a string or a comment), and so that a pinned data source
// can check every name the query uses. Where ClickHouse versions lex
// differently (nested block comments, # comments, Unicode quotes, escapes
// in quoted names, heredocs), the strict lexer refuses the text rather
// than guess.

type tokenKind int

const (
	tokSpace   tokenKind = iota
	tokComment           // -- … or /* … */ (and # … when not strict)
	tokString            // '…'
	tokQuoted            // `…` or "…": a quoted name
	tokIdent             // a bare name or keyword
	tokNumber            // a numeric literal
	tokMacro             // $__name
	tokPunct             // an operator or punctuation, one character
)

type token struct {
	kind tokenKind
	// text is the token as written.
	text string
	// name is a name's value (quotes removed) or a macro's name (without $__).
	name string
}

// errSQL wraps every problem with a query's SQL: the user's to fix.
var errSQL = errors.New("bad SQL")

func sqlError(pos int, format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", errSQL, pos, fmt.Sprintf(format, args...))
}

var numberRe = regexp.MustCompile(`^(0[xX][0-9a-fA-F_]+|0[bB][01_]+|([0-9][0-9_]*)?\.?[0-9_]*([eE][+-]?[0-9]+)?)$`)

// lexSQL splits sql into tokens. Strict lexing refuses what ClickHouse
// versions read differently and anything that is not plain ASCII code
// outside strings, quoted names and comments.
func lexSQL(sql string, strict bool) ([]token, error) {
	var out []token
	i := 0
	emit := func(kind tokenKind, end int, name string) {
		out = append(out, token{kind: kind, text: sql[i:end], name: name})
		i = end
	}
	for i < len(sql) {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			j := i
			for j < len(sql) && strings.IndexByte(" \t\n\r\f\v", sql[j]) >= 0 {
				j++
			}
			emit(tokSpace, j, "")
		case strings.HasPrefix(sql[i:], "--") || (c == '#' && !strict):
			j := strings.IndexByte(sql[i:], '\n')
			end := len(sql)
			if j >= 0 {
				end = i + j
			}
			if strict && strings.ContainsRune(sql[i:end], '\r') {
				return nil, sqlError(i, "a carriage return inside a -- comment")
			}
			emit(tokComment, end, "")
		case c == '#':
			return nil, sqlError(i, "# comments are not read alike by every ClickHouse version; use --")
		case strings.HasPrefix(sql[i:], "/*"):
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				return nil, sqlError(i, "unterminated /* comment")
			}
			end := i + 2 + j + 2
			if strict && strings.Contains(sql[i+2:end-2], "/*") {
				return nil, sqlError(i, "a /* comment inside a /* comment (versions differ on nesting)")
			}
			emit(tokComment, end, "")
		case c == '\'':
			end, err := quoteEnd(sql, i, strict)
			if err != nil {
				return nil, err
			}
			emit(tokString, end, "")
		case c == '`' || c == '"':
			end, err := quoteEnd(sql, i, strict)
			if err != nil {
				return nil, err
			}
			body := sql[i+1 : end-1]
			if strict && strings.ContainsRune(body, '\\') {
				return nil, sqlError(i, "a backslash inside a quoted name")
			}
			q := string(c)
			emit(tokQuoted, end, strings.ReplaceAll(body, q+q, q))
		case strings.HasPrefix(sql[i:], "$__"):
			j := i + 3
			for j < len(sql) && isWordChar(sql[j]) {
				j++
			}
			name := sql[i+3 : j]
			if _, ok := macros[name]; !ok {
				return nil, sqlError(i, "unknown macro $__%s (macros: %s)", name, macroNames())
			}
			emit(tokMacro, j, name)
		case isWordChar(c) && !isDigit(c):
			j := i
			for j < len(sql) && isWordChar(sql[j]) {
				j++
			}
			emit(tokIdent, j, sql[i:j])
		case isDigit(c) || (c == '.' && i+1 < len(sql) && isDigit(sql[i+1]) && !afterName(out)):
			j := i
			for j < len(sql) && (isWordChar(sql[j]) || sql[j] == '.' ||
				((sql[j] == '+' || sql[j] == '-') && (sql[j-1] == 'e' || sql[j-1] == 'E'))) {
				j++
			}
			if strict && !numberRe.MatchString(sql[i:j]) {
				return nil, sqlError(i, "%q is not a number", sql[i:j])
			}
			emit(tokNumber, j, "")
		case c >= 0x80 || c < 0x20:
			if strict {
				return nil, sqlError(i, "a character outside strings and quoted names that is not printable ASCII")
			}
			emit(tokPunct, i+1, "")
		case strict && strings.IndexByte("{}$\\", c) >= 0:
			return nil, sqlError(i, "%q is not allowed here", string(c))
		default:
			emit(tokPunct, i+1, "")
		}
	}
	return out, nil
}

// unicodeQuotes are quotes some ClickHouse versions read as ' and ".
var unicodeQuotes = []string{"\u2018", "\u2019", "\u201c", "\u201d"}

// quoteEnd returns the end of the quoted string or name starting at i:
// the closing quote not escaped by a backslash and not doubled.
func quoteEnd(sql string, i int, strict bool) (int, error) {
	q := sql[i]
	for j := i + 1; j < len(sql); j++ {
		switch sql[j] {
		case '\\':
			j++
		case q:
			if j+1 < len(sql) && sql[j+1] == q {
				j++
				continue
			}
			if strict {
				for _, u := range unicodeQuotes {
					if strings.Contains(sql[i:j+1], u) {
						return 0, sqlError(i, "a Unicode quotation mark inside quotes")
					}
				}
			}
			return j + 1, nil
		}
	}
	return 0, sqlError(i, "unterminated %c", q)
}

// afterName reports whether the last token is a name or a closing
// bracket, after which ".1" is tuple access, not a number.
func afterName(toks []token) bool {
	if len(toks) == 0 {
		return false
	}
	t := toks[len(toks)-1]
	return t.kind == tokIdent || t.kind == tokQuoted || t.text == ")" || t.text == "]"
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWordChar(c byte) bool {
	return c == '_' || isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// significant returns the indexes of the tokens that are not space or comments.
func significant(toks []token) []int {
	var out []int
	for i, t := range toks {
		if t.kind != tokSpace && t.kind != tokComment {
			out = append(out, i)
		}
	}
	return out
}
