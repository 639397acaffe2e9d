"""Looking inside a trained net: the visualisations of Zeiler & Fergus (ECCV 2014).

| what                                     | module            | paper            |
|------------------------------------------|-------------------|------------------|
| top-9 activations, projected + patches   | topk.py           | Sec. 4, Fig. 2   |
| feature evolution during training        | evolution.py      | Sec. 4.1, Fig. 4 |
| invariance to translation, scale, rotation| invariance.py    | Sec. 4.4, Fig. 5 |
| layer-1 filters, architecture comparison | filters.py        | Sec. 4.1, Fig. 6 |
| occlusion sensitivity                    | occlude.py        | Sec. 4.2, Fig. 7 |
| correspondence of parts                  | correspondence.py | Sec. 4.3, Table 1|
| scores against ground truth (synthetic)  | scores.py         | (ours)           |
| unit atlas: a static site, a page a unit | atlas.py          | Fig. 2, 4, 6, 7b |

Shared pieces: ``geometry`` (receptive fields), ``probe`` (inputs by index, several layers from
one forward pass, single-unit projections batched), ``render`` (normalising, mosaics, PNGs),
``report`` (report.html). Everything runs on the net's array module (NumPy or CuPy); figures
are drawn on the host. The command line is ``python -m zfcore.visualize``.
"""
from zfcore.vis.correspondence import correspondence_table
from zfcore.vis.evolution import EvolutionRecorder
from zfcore.vis.filters import compare_architectures, dead_fraction, high_freq_share
from zfcore.vis.geometry import receptive_fields
from zfcore.vis.invariance import invariance_curves
from zfcore.vis.occlude import occlusion
from zfcore.vis.probe import Inputs
from zfcore.vis.scores import occlusion_hits, projection_in_mask
from zfcore.vis.topk import top_activations

__all__ = ["occlusion", "EvolutionRecorder", "top_activations", "invariance_curves",
           "correspondence_table", "compare_architectures", "dead_fraction", "high_freq_share",
           "occlusion_hits", "projection_in_mask", "receptive_fields", "Inputs"]
