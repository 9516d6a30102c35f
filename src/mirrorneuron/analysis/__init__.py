"""Analysis: what gameplay says. Fits are pure numpy/scipy on arrays / DataFrames (:mod:`.fit`); the
simulator plants truths to check them (:mod:`.simulate`); the store is read in :mod:`.load` (the fits' lean
rounds) and :mod:`.frames` (the notebook API, :func:`load`) and written with simulated gameplay in
:mod:`.simstore`. docs/analysis.md describes the models.

``mirrorneuron.analysis.load`` is the notebook function (it shadows the module's name as a package attribute):
take names from the module with ``from mirrorneuron.analysis.load import load_rounds``, not
``import mirrorneuron.analysis.load as m``."""

from mirrorneuron.analysis.frames import load, load_analysis_data, load_finder_scores, load_models
from mirrorneuron.analysis.load import load_rounds

__all__ = ["load", "load_analysis_data", "load_finder_scores", "load_models", "load_rounds"]
