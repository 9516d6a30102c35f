"""Analysis: what gameplay says. Fits are pure numpy/scipy on arrays / DataFrames (:mod:`.fit`); the
simulator plants truths to check them (:mod:`.simulate`); the store is read in :mod:`.load` and written with
simulated gameplay in :mod:`.simstore`. docs/analysis.md describes the models."""
