package config

import "strings"

// String renders the rule in the language ParseRules reads; parsing the
// result gives back the same rule (the fuzz test holds it to that).
func (r FailoverRule) String() string {
	return r.Label + ": if (" + FormatExpr(r.Cond) + ") then " + r.Action + "();"
}

// FormatExpr renders a condition with the fewest parentheses that keep its
// tree: a right operand of the same operator is parenthesized (the parser
// associates to the left) and "!" always parenthesizes its operand.
func FormatExpr(e Expr) string {
	var b strings.Builder
	formatExpr(&b, e, 0)
	return b.String()
}

// ctx is the weakest operator that may stand unparenthesized here:
// 1 "||", 2 "&&", 3 only an atom (a comparison or a "!").
func formatExpr(b *strings.Builder, e Expr, ctx int) {
	switch x := e.(type) {
	case Cmp:
		b.WriteString(x.Resource)
		if x.Neg {
			b.WriteString(" != ")
		} else {
			b.WriteString(" == ")
		}
		b.WriteString(x.Value)
	case Not:
		b.WriteString("!(")
		formatExpr(b, x.X, 0)
		b.WriteString(")")
	case Or:
		formatBinary(b, x.L, x.R, " || ", 1, ctx)
	case And:
		formatBinary(b, x.L, x.R, " && ", 2, ctx)
	case nil:
		b.WriteString("<nil>")
	default:
		b.WriteString("<?>")
	}
}

func (c Cmp) String() string { return FormatExpr(c) }
func (n Not) String() string { return FormatExpr(n) }
func (a And) String() string { return FormatExpr(a) }
func (o Or) String() string  { return FormatExpr(o) }

// formatBinary renders l op r for an operator of strength prec (1 "||",
// 2 "&&"): parenthesized where ctx wants something stronger, the right
// operand one step stronger since the parser associates to the left.
func formatBinary(b *strings.Builder, l, r Expr, op string, prec, ctx int) {
	if ctx > prec {
		b.WriteString("(")
	}
	formatExpr(b, l, prec)
	b.WriteString(op)
	formatExpr(b, r, prec+1)
	if ctx > prec {
		b.WriteString(")")
	}
}
