"""The architecture variants of Z&F Sec. 5.1 (Table 3), derived from any base spec.

A variant is data: which of the net's *layers* to remove or resize, and which training settings
to change. "Layer i" is the paper's numbering: the i-th layer with weights (conv or linear), so
on ZFNet layers 1-5 are conv1..conv5, 6 and 7 are fc6 and fc7 and 8 is the softmax; on any other
spec the same words pick the same positions (``weighted_layers``). Removing layer i removes its
block: the weighted layer and the ReLU and dropout right after it (a pool or LRN that follows
stays: it belongs to the resolution, not the layer). Resizing multiplies its channels or units.

    base = recipe("zfnet_small32", 12).spec
    spec = VARIANTS["no-3-4"].spec(base)           # conv3, relu3, conv4, relu4 gone
    build(spec, seed).params()                     # conv5 now takes conv2's 64 channels
"""
import copy
from dataclasses import dataclass, field

from zfcore.models import build

WEIGHTED = ("conv", "linear")        # the layer kinds with weights: the paper's "layers"
FOLLOWERS = ("relu", "dropout")      # layer kinds that belong to the weighted layer before them


class SpecError(ValueError):
    """A variant the base spec cannot have (e.g. no layer 7 to remove)."""


def weighted_layers(spec):
    """Names of the layers with weights (conv, linear), in order: the paper's layers 1, 2, ..."""
    return [name for name, kind, _ in spec["layers"] if kind in WEIGHTED]


def head(spec):
    """The classifier layer (the last weighted one: it gets ``num_classes``)."""
    return weighted_layers(spec)[-1]


def _resolve(spec, layer):
    """Layer number i (1-based, the paper's) -> its name; ValueError when the spec has no such
    hidden layer (the classifier cannot be removed or resized)."""
    names = weighted_layers(spec)
    if not 1 <= layer < len(names):
        raise SpecError("%s has no hidden layer %d (its weighted layers: %s)"
                         % (spec.get("arch", "this spec"), layer, ", ".join(names)))
    return names[layer - 1]


def block(spec, name):
    """The layer ``name`` and the ReLU / dropout layers right after it."""
    layers = [entry[0] for entry in spec["layers"]]
    kinds = [entry[1] for entry in spec["layers"]]
    i = layers.index(name)
    j = i + 1
    while j < len(layers) and kinds[j] in FOLLOWERS:
        j += 1
    return layers[i:j]


def remove_layers(spec, layers):
    """A new spec without the blocks of the paper's layers ``layers`` (numbers, e.g. (3, 4)).
    The layers after them take their input size from what now flows in (``zfcore.models``)."""
    gone = {n for i in layers for n in block(spec, _resolve(spec, i))}
    out = copy.deepcopy(spec)
    out["layers"] = [entry for entry in out["layers"] if entry[0] not in gone]
    return out


def resize_layers(spec, factors):
    """A new spec with layer i's channels (conv ``c_out``) or units (linear ``d_out``) times
    ``factors[i]``, rounded (at least 1)."""
    names = {_resolve(spec, i): f for i, f in dict(factors).items()}
    out = copy.deepcopy(spec)
    for name, kind, args in out["layers"]:
        if name in names:
            key = "c_out" if "c_out" in args else "d_out"
            args[key] = max(1, int(round(args[key] * names[name])))
    return out


def scale_widths(spec, factor):
    """Every hidden layer resized by ``factor`` (a narrower base for a small CPU budget)."""
    if factor == 1:
        return copy.deepcopy(spec)
    return resize_layers(spec, {i: factor for i in range(1, len(weighted_layers(spec)))})


def param_count(spec):
    """The number of weights and biases of the net ``spec`` builds."""
    return int(sum(a.size for a in build(spec, seed=0).params().values()))


def widths(spec):
    """{layer name: channels or units} of the hidden weighted layers, as the net is built
    (``num_classes`` for the head)."""
    shapes = {}
    for key, a in build(spec, seed=0).params().items():
        if key.endswith(".W"):
            shapes[key[:-2]] = int(a.shape[0])
    return shapes


@dataclass(frozen=True)
class Variant:
    """One row of Table 3: ``remove`` (paper's layer numbers), ``resize`` ({layer: factor}),
    ``training`` (overrides of ``fit``'s settings, e.g. ``max_filter_rms=0``: no filter
    renormalisation), ``paper``: the row's words in the paper."""
    name: str
    paper: str
    remove: tuple = ()
    resize: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)

    def spec(self, base):
        """This variant of ``base`` (a new spec; ``base`` is not changed)."""
        spec = resize_layers(base, self.resize) if self.resize else copy.deepcopy(base)
        if self.remove:
            # resolve every number on the original net, then remove by name
            names = [_resolve(base, i) for i in self.remove]
            spec = remove_layers(spec, [weighted_layers(spec).index(n) + 1 for n in names])
        spec["variant"] = self.name
        return spec


# The paper's widening of conv3-5: 384, 384, 256 -> 512, 1024, 512 maps.
CONV_WIDE = {3: 512 / 384, 4: 1024 / 384, 5: 512 / 256}
VARIANTS = {v.name: v for v in [
    Variant("base", "Our model (as per Fig. 3)"),
    Variant("no-7", "Removed layer 7", remove=(7,)),
    Variant("no-6-7", "Removed layers 6,7", remove=(6, 7)),
    Variant("no-3-4", "Removed layers 3,4", remove=(3, 4)),
    Variant("no-3-4-6-7", "Removed layers 3,4,6,7", remove=(3, 4, 6, 7)),
    Variant("fc-x0.5", "Adjust layers 6,7: 2048 units", resize={6: 0.5, 7: 0.5}),
    Variant("fc-x2", "Adjust layers 6,7: 8192 units", resize={6: 2, 7: 2}),
    Variant("conv-wide", "Adjust layers 3,4,5: 512,1024,512 maps", resize=CONV_WIDE),
    Variant("conv-wide-fc-x2", "Adjust layers 6,7: 8192 units and layers 3,4,5: 512,1024,512 "
            "maps", resize={**CONV_WIDE, 6: 2, 7: 2}),
    Variant("no-renorm", "No RMS renormalisation of the conv filters (Sec. 3, Fig. 6a)",
            training={"max_filter_rms": 0.0}),
]}
# What ``python -m zfcore.experiments ablation`` trains unless told otherwise, in the order it
# trains them: the base net, the two that answer the paper's questions (is depth worth more
# than a layer? does one filter dominate without renormalisation?), then the other removals
# and, last, the costly widenings (the last combination of Table 3 is left for --variants).
# Tables list them in the paper's order (``VARIANTS``).
DEFAULT_VARIANTS = ("base", "no-3-4-6-7", "no-renorm", "no-7", "no-6-7", "no-3-4", "fc-x0.5",
                    "fc-x2", "conv-wide")
