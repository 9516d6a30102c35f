"""Units: scalar read-outs at sites — neurons, linear probes, SAE features, directions — as game contexts.

Every kind implements the game's ``UnitContext`` (values over the harvest, examples, level-2 neighbours and
level-3 contributions) through :class:`HarvestedUnit`; :func:`open_unit` opens any of them by id.
"""

from __future__ import annotations

from mirrorneuron.units.base import HarvestedUnit
from mirrorneuron.units.context import NeuronContext
from mirrorneuron.units.data import ensure_harvest
from mirrorneuron.units.directions import add_direction, list_directions
from mirrorneuron.units.labelers import Labeler, labeler
from mirrorneuron.units.open import lively_unit, open_unit, unit_context
from mirrorneuron.units.poly import polysemanticity, unit_polysemanticity
from mirrorneuron.units.probes import list_probes, train_probe
from mirrorneuron.units.readout import Readout, ReadoutContext
from mirrorneuron.units.sae import SparseAutoencoder, list_saes, load_sae_folder
from mirrorneuron.units.sae_train import import_sae, train_sae

UnitView = HarvestedUnit  # what open_unit returns: any unit kind

__all__ = [
    "HarvestedUnit",
    "Labeler",
    "NeuronContext",
    "Readout",
    "ReadoutContext",
    "SparseAutoencoder",
    "UnitView",
    "add_direction",
    "ensure_harvest",
    "import_sae",
    "labeler",
    "list_directions",
    "list_probes",
    "list_saes",
    "lively_unit",
    "load_sae_folder",
    "open_unit",
    "polysemanticity",
    "train_probe",
    "train_sae",
    "unit_context",
    "unit_polysemanticity",
]
