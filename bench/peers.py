"""The PyTorch peers of the benchmarks: the twin of a zfcore net, and PyTorch set up for a fair
GPU comparison. PyTorch is imported here and in bench/ only, never inside zfcore."""
import numpy as np

from zfcore.layers import LRN, Conv2D, Dropout, Flatten, Linear, MaxPool2D, ReLU


def torch_model(net):
    """The same layers as a torch.nn.Sequential, holding copies of our weights."""
    import torch
    from torch import nn
    mods = []
    for layer in net.layers.values():
        if isinstance(layer, Conv2D):
            m = nn.Conv2d(layer.c_in, layer.c_out, layer.k, layer.stride, layer.pad)
        elif isinstance(layer, Linear):
            m = nn.Linear(layer.d_in, layer.d_out)
        elif isinstance(layer, ReLU):
            m = nn.ReLU()
        elif isinstance(layer, MaxPool2D):
            m = nn.MaxPool2d(layer.k, layer.stride, ceil_mode=layer.ceil_mode)
        elif isinstance(layer, LRN):
            # PyTorch divides alpha by size; ours does not.
            m = nn.LocalResponseNorm(layer.size, alpha=layer.size * layer.alpha, beta=layer.beta,
                                     k=layer.k)
        elif isinstance(layer, Dropout):
            m = nn.Dropout(layer.p)
        elif isinstance(layer, Flatten):
            m = nn.Flatten()
        else:
            raise TypeError("no torch twin for %r" % (layer,))
        if layer.params:
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(np.asarray(layer.params["W"])))
                m.bias.copy_(torch.from_numpy(np.asarray(layer.params["b"])))
        mods.append(m)
    return nn.Sequential(*mods)


def import_torch():
    """torch with a CUDA device, TF32 off (float32 against float32) and cuDNN autotuning on; or
    None."""
    try:
        import torch
        if not torch.cuda.is_available():
            return None
    except ImportError:
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    return torch
