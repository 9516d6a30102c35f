"""The imitation rule language: a parser (never eval) and a numpy evaluator (grammar: docs/imitations.md)."""

from mirrorneuron.buildout.rules.evaluate import RuleInputs, evaluate
from mirrorneuron.buildout.rules.parser import parse_rule
from mirrorneuron.buildout.rules.syntax import Rule, RuleError, rule_from_json

__all__ = ["Rule", "RuleError", "RuleInputs", "evaluate", "parse_rule", "rule_from_json"]
