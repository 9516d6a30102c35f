"""The imitation rule language: a parser (never eval) and a numpy evaluator."""
