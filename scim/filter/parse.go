package filter

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/scim/schema"
)

type kind int

const (
	tEOF kind = iota
	tWord
	tString
	tLParen
	tRParen
	tLBrack
	tRBrack
)

type token struct {
	kind kind
	text string // a word, or a string's decoded value
	pos  int
	err  error
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of filter"
	case tString:
		return fmt.Sprintf("string at %d", t.pos)
	}
	return fmt.Sprintf("%q at %d", t.text, t.pos)
}

// lexer splits a filter into words (attribute paths, operators,
// keywords, numbers), JSON strings and brackets.
type lexer struct {
	src    string
	pos    int
	peeked *token
}

func (l *lexer) peek() token {
	if l.peeked == nil {
		t := l.scan()
		l.peeked = &t
	}
	return *l.peeked
}

func (l *lexer) next() token {
	t := l.peek()
	l.peeked = nil
	return t
}

func (l *lexer) scan() token {
	for l.pos < len(l.src) && strings.IndexByte(" \t\r\n", l.src[l.pos]) >= 0 {
		l.pos++
	}
	start := l.pos
	if l.pos == len(l.src) {
		return token{kind: tEOF, pos: start}
	}
	switch c := l.src[l.pos]; c {
	case '(', ')', '[', ']':
		l.pos++
		return token{kind: map[byte]kind{'(': tLParen, ')': tRParen, '[': tLBrack, ']': tRBrack}[c], text: string(c), pos: start}
	case '"':
		return l.scanString()
	}
	for l.pos < len(l.src) && strings.IndexByte(" \t\r\n()[]\"", l.src[l.pos]) < 0 {
		l.pos++
	}
	return token{kind: tWord, text: l.src[start:l.pos], pos: start}
}

func (l *lexer) scanString() token {
	start := l.pos
	for i := start + 1; i < len(l.src); i++ {
		switch l.src[i] {
		case '\\':
			i++
		case '"':
			l.pos = i + 1
			var s string
			if err := json.Unmarshal([]byte(l.src[start:l.pos]), &s); err != nil {
				return token{kind: tString, pos: start, err: fmt.Errorf("bad string at %d", start)}
			}
			return token{kind: tString, text: s, pos: start}
		}
	}
	l.pos = len(l.src)
	return token{kind: tString, pos: start, err: fmt.Errorf("unterminated string at %d", start)}
}

// parser is a recursive descent parser of RFC 7644 §3.4.2.2:
//
//	FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//	valuePath = attrPath "[" valFilter "]"
//	attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//
// with "or" binding looser than "and", and "not" and parentheses
// binding tightest.
type parser struct {
	res      *schema.Resource
	lex      lexer
	depth    int
	parent   *schema.Found // inside a value filter: its attribute
	inMemory bool          // a PATCH value filter: any sub-attribute may be named
}

func (p *parser) errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errorf("nested deeper than %d", MaxDepth)
	}
	return nil
}

func (p *parser) keyword(w string) bool {
	t := p.lex.peek()
	if t.kind == tWord && strings.EqualFold(t.text, w) {
		p.lex.next()
		return true
	}
	return false
}

func (p *parser) parseFilter() (account.Filter, error) {
	left, err := p.parseAnd()
	for err == nil && p.keyword("or") {
		var right account.Filter
		if right, err = p.parseAnd(); err == nil {
			left = account.Or{Left: left, Right: right}
		}
	}
	return left, err
}

func (p *parser) parseAnd() (account.Filter, error) {
	left, err := p.parseUnary()
	for err == nil && p.keyword("and") {
		var right account.Filter
		if right, err = p.parseUnary(); err == nil {
			left = account.And{Left: left, Right: right}
		}
	}
	return left, err
}

func (p *parser) parseUnary() (account.Filter, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if p.keyword("not") {
		f, err := p.parseGroup()
		if err != nil {
			return nil, err
		}
		return account.Not{X: f}, nil
	}
	t := p.lex.peek()
	switch t.kind {
	case tLParen:
		return p.parseGroup()
	case tWord:
		p.lex.next()
		return p.parseAttrExp(t)
	}
	return nil, p.errorf("expected an attribute, not or (, got %s", t)
}

func (p *parser) parseGroup() (account.Filter, error) {
	if t := p.lex.next(); t.kind != tLParen {
		return nil, p.errorf("expected ( at %d", t.pos)
	}
	f, err := p.parseFilter()
	if err != nil {
		return nil, err
	}
	if t := p.lex.next(); t.kind != tRParen {
		return nil, p.errorf("expected ), got %s", t)
	}
	return f, nil
}

// parseValueFilter parses "valFilter ]" of a value path on attribute top
// (the "[" already read).
func (p *parser) parseValueFilter(top schema.Found) (account.Filter, error) {
	if p.parent != nil {
		return nil, p.errorf("nested value filter in %s", p.parent.Path)
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.parent = &top
	f, err := p.parseFilter()
	p.parent = nil
	p.depth--
	if err != nil {
		return nil, err
	}
	if t := p.lex.next(); t.kind != tRBrack {
		return nil, p.errorf("expected ], got %s", t)
	}
	return f, nil
}

func (p *parser) resolve(name token) (schema.Found, error) {
	var (
		f   schema.Found
		err error
	)
	if p.parent != nil {
		if strings.ContainsAny(name.text, ".:") {
			return f, p.errorf("%q: a value filter names sub-attributes of %s only", name.text, p.parent.Path)
		}
		f, err = p.res.Sub(*p.parent, name.text)
	} else {
		f, err = p.res.Lookup(name.text)
	}
	if err != nil {
		return f, err
	}
	if f.Attribute.Mutability == schema.WriteOnly || f.Attribute.Returned == schema.Never {
		return f, p.errorf("%s cannot be filtered on", f.Path)
	}
	return f, nil
}

func (p *parser) parseAttrExp(name token) (account.Filter, error) {
	f, err := p.resolve(name)
	if err != nil {
		return nil, err
	}
	if p.lex.peek().kind == tLBrack {
		p.lex.next()
		if f.Parent != nil || f.Attribute.Type != schema.Complex || !f.Attribute.MultiValued {
			return nil, p.errorf("%s is not a multi-valued complex attribute", f.Path)
		}
		if !p.inMemory && !hasFilterableSub(f.Attribute) {
			return nil, p.errorf("%s cannot be filtered on", f.Path)
		}
		vf, err := p.parseValueFilter(f)
		if err != nil {
			return nil, err
		}
		return account.ValuePath{Attr: f.Path, Filter: vf}, nil
	}
	if f.Attribute.Type == schema.Complex {
		if f, err = p.res.Sub(f, "value"); err != nil {
			return nil, p.errorf("%s is complex: name a sub-attribute", name.text)
		}
	}
	if !p.inMemory && !f.Attribute.Filterable {
		return nil, p.errorf("%s cannot be filtered on", f.Path)
	}
	opTok := p.lex.next()
	if opTok.kind != tWord {
		return nil, p.errorf("expected an operator after %s, got %s", f.Path, opTok)
	}
	op := strings.ToLower(opTok.text)
	if op == "pr" {
		return account.Present{Attr: f.Path}, nil
	}
	if !validOp(op) {
		return nil, p.errorf("unknown operator %s", opTok)
	}
	return p.parseCompare(f, account.Op(op))
}

func hasFilterableSub(a *schema.Attribute) bool {
	for _, s := range a.SubAttributes {
		if s.Filterable {
			return true
		}
	}
	return false
}

func validOp(op string) bool {
	switch account.Op(op) {
	case account.OpEq, account.OpNe, account.OpCo, account.OpSw, account.OpEw,
		account.OpGt, account.OpGe, account.OpLt, account.OpLe:
		return true
	}
	return false
}

var number = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// compValue reads "false / null / true / number / string".
func (p *parser) compValue() (any, error) {
	t := p.lex.next()
	switch {
	case t.err != nil:
		return nil, t.err
	case t.kind == tString:
		return t.text, nil
	case t.kind != tWord:
		return nil, p.errorf("expected a value, got %s", t)
	}
	switch strings.ToLower(t.text) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	if number.MatchString(t.text) {
		if v, err := strconv.ParseFloat(t.text, 64); err == nil {
			return v, nil
		}
	}
	return nil, p.errorf("bad value %s", t)
}

func (p *parser) parseCompare(f schema.Found, op account.Op) (account.Filter, error) {
	v, err := p.compValue()
	if err != nil {
		return nil, err
	}
	if v == nil {
		switch op {
		case account.OpEq:
			return account.Not{X: account.Present{Attr: f.Path}}, nil
		case account.OpNe:
			return account.Present{Attr: f.Path}, nil
		}
		return nil, p.errorf("%s %s null", f.Path, op)
	}
	v, err = typedValue(f, op, v)
	if err != nil {
		return nil, err
	}
	return account.Compare{Attr: f.Path, Op: op, Value: v, CaseExact: f.Attribute.CaseExact}, nil
}

// typedValue checks v against the attribute's type and the operator
// (RFC 7644 §3.4.2.2: booleans take eq and ne only).
func typedValue(f schema.Found, op account.Op, v any) (any, error) {
	ordered := op == account.OpGt || op == account.OpGe || op == account.OpLt || op == account.OpLe
	substring := op == account.OpCo || op == account.OpSw || op == account.OpEw
	switch f.Attribute.Type {
	case schema.String, schema.Reference:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case schema.Boolean:
		if ordered || substring {
			return nil, fmt.Errorf("%s is a boolean: %s is not allowed", f.Path, op)
		}
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case schema.DateTime:
		if substring {
			return nil, fmt.Errorf("%s is a dateTime: %s is not allowed", f.Path, op)
		}
		if s, ok := v.(string); ok {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not an xsd:dateTime", f.Path, s)
			}
			return t, nil
		}
	case schema.Decimal, schema.Integer:
		if substring {
			return nil, fmt.Errorf("%s is a number: %s is not allowed", f.Path, op)
		}
		if n, ok := v.(float64); ok {
			return n, nil
		}
	}
	return nil, fmt.Errorf("%s is a %s: %v does not match", f.Path, f.Attribute.Type, v)
}
