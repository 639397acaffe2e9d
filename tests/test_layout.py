"""The package reads from the bottom up: backend, layers, net and models, data, training, the
analyses, the command lines. Every import of a zfcore module (at the top of a file or inside a
function) goes to its own level or one below, and no two modules import each other, directly or
round a loop."""
import ast
import os

import zfcore

ROOT = os.path.dirname(os.path.abspath(zfcore.__file__))

# (level, module name or package prefix); a module takes the level of its longest match.
LEVELS = [
    (0, "zfcore"), (0, "zfcore.backend"), (0, "zfcore.kernels"), (0, "zfcore.errors"),
    (0, "zfcore.atomic"), (0, "zfcore.distributed"),
    (1, "zfcore.layers"),
    (2, "zfcore.net"), (2, "zfcore.models"), (2, "zfcore.optim"), (2, "zfcore.checkpoint"),
    (2, "zfcore.recipe"),
    (3, "zfcore.data"),
    (4, "zfcore.trainer"), (4, "zfcore.evaluation"), (4, "zfcore.runlock"),
    (5, "zfcore.vis"), (5, "zfcore.experiments"),
    (6, "zfcore.cli"), (6, "zfcore.train"), (6, "zfcore.evaluate"), (6, "zfcore.visualize"),
    (6, "zfcore.data.__main__"), (6, "zfcore.experiments.__main__"),
]
NAMES = ["backend", "layers", "net/models", "data", "training", "vis", "command lines"]


def modules():
    """{module name: path} for every .py file of the package."""
    out = {}
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
                out[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = path
    return out


def imports(path, known):
    """The zfcore modules a file imports: ``from a.b import c`` is ``a.b.c`` when that is a
    module, else ``a.b``."""
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("zfcore"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("zfcore"):
            for a in node.names:
                sub = node.module + "." + a.name
                found.add(sub if sub in known else node.module)
    return found


def level(module):
    matches = [(len(name), lvl) for lvl, name in LEVELS
               if module == name or module.startswith(name + ".")]
    assert matches, "%s has no level in tests/test_layout.py: give it one" % module
    return max(matches)[1]


def graph():
    mods = modules()
    return {m: imports(p, mods) - {m} for m, p in mods.items()}


def test_every_import_goes_to_the_same_level_or_below():
    bad = ["%s (%s) imports %s (%s)" % (m, NAMES[level(m)], d, NAMES[level(d)])
           for m, deps in graph().items() for d in deps if level(d) > level(m)]
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycles():
    g = graph()
    # a package's __init__ may import its own submodules; a submodule importing its package's
    # __init__ back is then a cycle, and is caught here like any other
    state, cycles = {}, []

    def visit(m, stack):
        state[m] = "open"
        for d in sorted(g.get(m, ())):
            if state.get(d) == "open":
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = "done"

    for m in sorted(g):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(cycles)
