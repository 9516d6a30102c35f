"""Build-out: from one imitated unit to an imitated module.

- ``rules*``: the imitation rule language (pure: parser + evaluator, numpy only).
- imitations evaluated on any example and scored on held-out examples with ``game.scoring``.
- explanations scored by an LLM simulator (the automated-interpretability / delphi recipe).
- splicing: units' activations replaced in the forward pass (writable sites), loss recovered.
- modules: units grouped by weight connectivity and co-activation, with a modularity score.
"""
