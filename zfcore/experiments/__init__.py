"""The experiments of Z&F Sec. 5, as resumable protocols run in-process on ``zfcore.trainer``.

| experiment                               | module      | paper                  |
|------------------------------------------|-------------|------------------------|
| layers removed or resized, no renorm     | ablation.py | Sec. 5.1, Table 3; Fig. 6a |
| softmax retrained on k images per class  | transfer.py | Sec. 5.2, Tables 4-5, Fig. 9 |
| a linear probe on each layer's features  | probes.py   | Sec. 5.3, Table 7      |

Shared pieces: ``specs`` (variants of any base spec, as data), ``config`` (the data, its split
into source and target classes, the base net), ``splits`` (classes and k images per class),
``pretrain`` (the net trained on the source classes, once), ``training`` (``fit`` and the
scores), ``store`` (units of work: one JSON each, written when done, skipped on a rerun),
``figures``, ``paper`` (the paper's numbers, for reference) and ``report`` (report.html).
The command line is ``python -m zfcore.experiments``.
"""
