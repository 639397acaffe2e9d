"""The training loop of Z&F Sec. 3 as a library: ``fit`` and ``Trainer``, with callbacks.

    from zfcore.recipe import recipe
    from zfcore.train import fit
    net = recipe("zfnet_small", num_classes=12).build(seed=0)
    history = fit(net, train_ds, val_ds, out_dir="runs/mine", epochs=2)   # [row per epoch]
    fit(net2, train_ds, val_ds, out_dir="runs/mine", epochs=4, resume="runs/mine")

One epoch: the batches of ``zfcore.data.batches(train_ds, ..., seed, epoch)`` (so the order is a
function of (seed, epoch) and a resumed run sees what it would have seen), a forward pass in
train mode, the loss, backward (no input gradient), one momentum-SGD step with the filter
renormalisation; then the validation error, and the plateau schedule: lr x0.1 after
``patience`` epochs without a better top-1 error. Settings left as None come from the
checkpoint being resumed, else from ``zfcore.recipe.training(arch)``.

Callbacks (``Callback`` subclasses) see the run at ``on_train_start``, ``on_epoch_start``,
``on_step_end``, ``on_epoch_end`` (with the epoch's metrics row), ``on_train_end`` and, when
training stops on an error, ``on_train_error``. With ``out_dir``, ``MetricsCSV``
(``metrics.csv``) and ``CheckpointSaver`` (writes ``checkpoint.h5`` every epoch and ``best.h5``
by validation error, each atomically) run first, the run folder locked (``run_lock``);
``Progress`` (the bar and a line per epoch) with ``verbose``. A non-finite loss raises
``TrainingError`` naming the epoch and step; the last checkpoint written stays as it was.

Under ``mpiexec -n N`` (``comm``: ``zfcore.distributed.world()``) the run is data-parallel: rank
0's weights and velocities are broadcast and checked, each global batch of ``batch_size`` is
cut in N shards (``distributed.shard_slice``), one all-reduce per step averages the gradients
(with the shard's loss and correct count in the same buffer), every rank makes the same update,
the validation error is counted over shards and summed exactly; only rank 0 locks the run
folder, writes files and runs the callbacks (a callback with ``all_ranks = True`` runs on every
rank and reads ``trainer.comm.rank``). Dropout streams are reseeded each epoch from (seed,
epoch, rank, layer): a run is reproducible for a given N, and resumes with any N.
"""
import contextlib
import csv
import math
import os
import sys
import time

import numpy as np

from zfcore import distributed
from zfcore import recipe as recipes
from zfcore import runlock
from zfcore.atomic import atomic_write
from zfcore.backend import is_gpu, to_device, to_numpy, xp_of
from zfcore.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from zfcore.evaluation import evaluate
from zfcore.optim import SGD

METRICS = ["epoch", "step", "lr", "train_loss", "train_acc", "val_top1_err", "val_top5_err",
           "images_per_s", "seconds"]
SETTINGS = ("epochs", "batch_size", "momentum", "weight_decay", "max_filter_rms", "patience",
            "max_lr_drops", "anneal_by")
PROGRESS_EVERY_S = 60        # without a terminal: a progress line this often within an epoch
READ_EVERY = 20              # GPU: the running loss and accuracy come to the host this often

__all__ = ["fit", "Trainer", "Callback", "CheckpointSaver", "MetricsCSV", "Progress",
           "TrainingError", "RunLocked", "run_lock", "METRICS"]


class TrainingError(Exception):
    """Training cannot go on (e.g. the loss became NaN); what was written stays. The command
    lines print it as one line (``zfcore.cli``)."""


class RunLocked(TrainingError):
    """The run folder is being trained by another live process (``zfcore.runlock``)."""


@contextlib.contextmanager
def run_lock(out_dir):
    """``with run_lock(out_dir):`` this process owns the run folder (``zfcore.runlock``: an
    atomic ``run.lock`` with our pid and host, removed on the way out, also on an error or
    Ctrl-C; a stale one is taken over). Raises ``RunLocked`` naming the folder and the other
    process. Re-entrant: the command line holds it around the run, ``fit`` again inside."""
    try:
        runlock.acquire(out_dir)
    except runlock.LockHeld as e:
        raise RunLocked(str(e)) from None
    try:
        yield os.path.join(out_dir, runlock.LOCK_NAME)
    finally:
        runlock.release(out_dir)


class Callback:
    """Hooks into a ``Trainer``; override any. ``row`` is the epoch's metrics (``METRICS``
    keys; ``epoch`` counts from 1); ``stats`` the running {'step', 'loss', 'train_loss',
    'train_acc', 'seen', 'images_per_s'} of the epoch so far. Callbacks run in the order given,
    after the built-in ones."""

    def on_train_start(self, trainer):
        pass

    def on_epoch_start(self, trainer, epoch):
        """``epoch``: the number (from 1) of the epoch about to run."""

    def on_step_end(self, trainer, stats):
        pass

    def on_epoch_end(self, trainer, row):
        pass

    def on_train_end(self, trainer):
        pass

    def on_train_error(self, trainer, error):
        """Training stops on ``error`` (re-raised after every callback has seen it)."""


class CheckpointSaver(Callback):
    """``out_dir/checkpoint.h5`` after every epoch, and ``best.h5`` when the validation error
    improved: weights, velocities, the trainer's state (epoch, step, lr, schedule, seed and
    settings) and the dropout streams; written to a temporary file, then renamed."""

    def __init__(self, out_dir):
        self.path = os.path.join(out_dir, "checkpoint.h5")
        self.best = os.path.join(out_dir, "best.h5")

    def on_train_start(self, trainer):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        if trainer.resumed is None and os.path.exists(self.path):
            raise FileExistsError("%s already exists: resume from it or choose another out_dir"
                                  % self.path)

    def on_epoch_end(self, trainer, row):
        trainer.save(self.path)
        if trainer.improved:
            trainer.save(self.best)


class MetricsCSV(Callback):
    """``out_dir/metrics.csv``: one row per epoch (``METRICS``); a resumed run keeps the rows of
    the epochs before it and replaces the rest. Rewritten whole each epoch (then renamed)."""

    def __init__(self, out_dir):
        self.path = os.path.join(out_dir, "metrics.csv")

    def on_epoch_end(self, trainer, row):
        rows = []
        if os.path.exists(self.path):
            with open(self.path) as f:
                rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < row["epoch"]]
        rows.append(row)
        with atomic_write(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, METRICS, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)


class Progress(Callback):
    """The run's choices at the start (``zfcore.recipe.describe``) and one line per epoch on
    ``file`` (stdout); with ``bar``, a tqdm bar per epoch on stderr when stderr is a terminal,
    else (a log file, a pipe) a plain line every ``every_s`` seconds within a long epoch, so
    that a log has no carriage-return updates."""

    def __init__(self, bar=True, file=None, every_s=PROGRESS_EVERY_S):
        self.show_bar, self.file, self.bar, self.every_s = bar, file, None, every_s
        self.last = None

    def _print(self, line):
        print(line, file=self.file or sys.stdout, flush=True)

    def on_train_start(self, trainer):
        if trainer.epoch >= trainer.epochs:
            self._print("nothing to do: the checkpoint is at epoch %d of %d"
                        % (trainer.epoch, trainer.epochs))
            return
        self._print(recipes.describe(trainer.state["settings"], len(trainer.train_ds.labels),
                                     len(trainer.val_ds.labels), trainer.state["lr"]))

    def on_epoch_start(self, trainer, epoch):
        self.last = time.time()
        tty = self.show_bar and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        if tty:
            from tqdm import tqdm
            self.bar = tqdm(total=trainer.batches_per_epoch,
                            desc="epoch %d/%d" % (epoch, trainer.epochs), leave=False,
                            file=sys.stderr, dynamic_ncols=True)

    def on_step_end(self, trainer, stats):
        if self.bar is not None:
            self.bar.set_postfix(loss="%.3f" % stats["train_loss"],
                                 acc="%.3f" % stats["train_acc"],
                                 img_s="%.0f" % stats["images_per_s"], refresh=False)
            self.bar.update(1)
        elif self.show_bar and time.time() - self.last >= self.every_s:
            self.last = time.time()
            done = math.ceil(stats["seen"] / trainer.batch_size)
            self._print("epoch %d/%d  step %d/%d  loss %.4f  train acc %.2f%%  %.0f img/s"
                        % (trainer.epoch + 1, trainer.epochs, done, trainer.batches_per_epoch,
                           stats["train_loss"], 100 * stats["train_acc"],
                           stats["images_per_s"]))

    def on_epoch_end(self, trainer, row):
        self._close()
        self._print("epoch %d/%d  loss %.4f  train acc %.2f%%  val top-1 err %.2f%%  top-5 err "
                    "%.2f%%  lr %.0e  %.0f img/s"
                    % (row["epoch"], trainer.epochs, row["train_loss"], 100 * row["train_acc"],
                       100 * row["val_top1_err"], 100 * row["val_top5_err"], row["lr"],
                       row["images_per_s"]))
        self.last = None

    def on_train_error(self, trainer, error):
        self._close()

    def _close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Trainer:
    """One training run of ``net`` on ``train_ds``, validated on ``val_ds`` after every epoch.

    net        a ``Net`` (e.g. ``recipe(arch, ...).build(seed)``); moved to ``device``
    train_ds, val_ds   ``zfcore.data`` datasets (images, labels, mean, class_names); the net's
               input side (``net.spec['input']``) is the crop
    out_dir    where checkpoint.h5, best.h5 and metrics.csv go; None: nothing is written
    epochs     the total, counted from the start of the run (a resumed run goes on to it)
    lr         the initial lr; on resume None keeps the checkpoint's (scheduled) lr
    batch_size, momentum, weight_decay, max_filter_rms, patience, max_lr_drops: Z&F Sec. 3;
               anneal_by: lr is divided by 10 after epoch ceil(anneal_by * epochs) if the
               plateau rule has not divided it yet (``zfcore.recipe.ANNEAL_BY_32``; 0: never);
               None takes the checkpoint's value on resume, else ``zfcore.recipe.training``'s
               for this many training images (batch, epochs and patience scale with it)
    seed       the data order's seed (None: the checkpoint's, else 0)
    callbacks  ``Callback`` instances, run after the built-in ones, in order
    device     'numpy' or 'cupy'
    verbose    0 silent, 1 a line per epoch, 2 also a progress bar
    resume     a checkpoint (path, run folder or ``Checkpoint``): the net gets its weights and
               dropout streams, the optimiser its velocities, the run its epoch, step, lr,
               schedule and settings: the rest of the run is as if it had never stopped
    state      more JSON-able entries kept in every checkpoint (e.g. where the data came from)
    comm       a ``zfcore.distributed`` communicator (default ``world()``: ``Single`` unless
               started by mpiexec with N > 1 processes)
    frozen     parameter keys or layer names the optimiser leaves exactly as they are (Z&F
               Sec. 5.2: layers 1-7 fixed, a new softmax trained); None: the checkpoint's, else
               none; kept in the checkpoint's state
    """

    def __init__(self, net, train_ds, val_ds, out_dir=None, epochs=None, batch_size=None,
                 lr=None, momentum=None, weight_decay=None, max_filter_rms=None, patience=None,
                 seed=None, callbacks=(), device="numpy", verbose=0, resume=None, state=None,
                 max_lr_drops=None, frozen=None, comm=None, anneal_by=None):
        self.net, self.train_ds, self.val_ds = net, train_ds, val_ds
        self.out_dir, self.device = out_dir, device
        self.comm = comm if comm is not None else distributed.world()
        self.resumed = _checkpoint(resume)
        saved = self.resumed.state if self.resumed is not None else {}
        given = dict(epochs=epochs, batch_size=batch_size, momentum=momentum,
                     weight_decay=weight_decay, max_filter_rms=max_filter_rms, patience=patience,
                     max_lr_drops=max_lr_drops, anneal_by=anneal_by)
        stored = saved.get("settings", {})
        batch = batch_size if batch_size is not None else stored.get("batch_size")
        defaults = recipes.training((net.spec or {}).get("arch"), n_train=len(train_ds.labels),
                                    batch_size=batch)
        settings = {k: given[k] if given[k] is not None else stored.get(k, defaults[k])
                    for k in SETTINGS}
        self.state = {"epoch": 0, "step": 0, "best_val_err": None, "since_best": 0,
                      "lr_drops": 0}
        self.state.update(saved)
        self.state.update(state or {})
        self.state.update(settings=settings,
                          seed=seed if seed is not None else saved.get("seed", 0))
        if lr is not None or "lr" not in self.state:
            self.state["lr"] = lr if lr is not None else defaults["lr"]
        for k, v in settings.items():
            setattr(self, k, v)
        if lr is None:
            self._anneal()        # a resumed run past its anneal epoch (settings changed since)
        self.seed = self.state["seed"]
        self.crop = int(net.spec["input"][1]) if net.spec else int(train_ds.images.shape[1])
        self.batches_per_epoch = math.ceil(len(train_ds.labels) / self.batch_size)
        if self.resumed is not None:
            _load_weights(net, self.resumed)
        net.to(device)
        self.state["frozen"] = sorted(frozen if frozen is not None else saved.get("frozen", []))
        self.opt = SGD(net, self.state["lr"], self.momentum, self.weight_decay, self.max_filter_rms,
                       frozen=self.state["frozen"])
        for key, v in (self.resumed.velocity if self.resumed is not None else {}).items():
            self.opt.velocity[key] = to_device(v, device)
        # backward goes down to the lowest layer the update changes, no further (transfer with
        # layers 1-7 frozen: the softmax layer's product only)
        self.lowest = next((name for name, layer in net.layers.items()
                            if any("%s.%s" % (name, k) not in self.opt.frozen
                                   for k in layer.params)), None) if self.opt.frozen else None
        if self.comm.size > 1:
            self._join_ranks()
        builtin = []
        if out_dir is not None:
            self.saver = CheckpointSaver(out_dir)
            # the row first: a run stopped between the two has its row (replaced on resume),
            # never a checkpoint without its row
            builtin += [MetricsCSV(out_dir), self.saver]
        if verbose:
            builtin.append(Progress(bar=verbose >= 2))
        self.callbacks = builtin + list(callbacks)
        if self.comm.rank != 0:      # rank 0 writes and reports; a callback may ask for all ranks
            self.callbacks = [cb for cb in callbacks if getattr(cb, "all_ranks", False)]
        self.history, self.improved, self.stop = [], False, False

    @property
    def epoch(self):
        """Epochs done so far (the next one to run is ``epoch + 1``)."""
        return self.state["epoch"]

    @property
    def checkpoint_path(self):
        return os.path.join(self.out_dir, "checkpoint.h5") if self.out_dir is not None else None

    def fit(self):
        """Train up to ``epochs``; returns the metrics rows of the epochs run. A callback may set
        ``trainer.stop = True`` to end after the current epoch. With ``out_dir``, the run folder is
        this process's for the while (``run_lock``: another process training into it raises
        ``RunLocked``)."""
        owner = self.out_dir is not None and self.comm.rank == 0
        with run_lock(self.out_dir) if owner else contextlib.nullcontext():
            return self._fit()

    def _fit(self):
        # A diverging run is caught by the finite-loss check, with one clear message; NumPy's
        # overflow warnings on the way there would only bury it.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            self._call("on_train_start")
            try:
                while self.epoch < self.epochs and not self.stop:
                    self.history.append(self._epoch())
            except BaseException as e:
                self._call("on_train_error", e)
                raise
            self._call("on_train_end")
        return self.history

    def _epoch(self):
        net, opt, st = self.net, self.opt, self.state
        epoch = st["epoch"]                      # 0-based: the data order's epoch
        self._call("on_epoch_start", epoch + 1)
        from zfcore.data import batches
        t0 = time.time()
        tally = _Tally(every=READ_EVERY if self.device in ("cupy", "gpu") else 1)
        opt.lr = st["lr"]
        if self.comm.size > 1:
            self._seed_dropout(epoch)
        if self.device in ("cupy", "gpu") and self.comm.size == 1:
            from zfcore.data.gpu_feed import device_batches as batches  # the same batches,
            # cropped in uint8 and converted on the GPU while the previous step runs
        for x, y in batches(self.train_ds, self.batch_size, self.crop, train=True,
                            seed=self.seed, epoch=epoch):
            if self.comm.size > 1:   # this rank's shard; loss and right are the whole batch's
                loss, right = self._parallel_step(x, y, epoch)
                st["step"] += 1
                tally.add(loss, right, len(y), st["step"])
                self._read(tally, epoch)             # host numbers already: nothing to wait for
                self._call("on_step_end", tally.stats(st["step"], t0))
                continue
            x, y = to_device(x, self.device), to_device(y, self.device)
            logits = net.forward(x, train=True)
            loss = net.loss(logits, y)
            net.backward(input_grad=False, until=self.lowest)
            opt.step()
            st["step"] += 1
            tally.add(loss, (logits.argmax(axis=1) == y).sum(), len(y), st["step"])
            if tally.due():
                self._read(tally, epoch)
            self._call("on_step_end", tally.stats(st["step"], t0))
        self._read(tally, epoch)
        seen, loss_sum, correct = tally.seen, tally.loss_sum, tally.correct
        seconds = time.time() - t0
        val = evaluate(net, self.val_ds, self.crop, self.batch_size, device=self.device,
                       comm=self.comm)
        row = dict(epoch=epoch + 1, step=st["step"], lr=opt.lr, train_loss=loss_sum / seen,
                   train_acc=correct / seen, val_top1_err=val["top1"], val_top5_err=val["top5"],
                   images_per_s=seen / seconds, seconds=seconds)
        self._schedule(val["top1"])
        self._call("on_epoch_end", row)
        if self.comm.size > 1:       # a callback on rank 0 may stop the run: every rank stops
            self.stop = bool(self.comm.allreduce_sum(np.array([int(self.stop)]))[0])
            self.comm.check_same(self.net.params())
        return row

    def _join_ranks(self):
        """Every rank starts from rank 0's weights and velocities (one broadcast each), checked
        by checksum; the device's communicator (NCCL on the GPU) from here on."""
        self.comm = self.comm.for_device(self.device)
        params = self.net.params()
        self.comm.broadcast([params[k] for k in params])
        self.comm.broadcast([self.opt.velocity[k] for k in params])
        self.comm.check_same(params)
        self._flat = None
        if self.out_dir is not None:
            self.comm.note = "the last checkpoint is in %s" % self.checkpoint_path

    def _seed_dropout(self, epoch):
        """Each rank its own dropout masks, reproducibly: every random stream of the net
        reseeded from (seed, epoch, rank, layer) at the start of the epoch."""
        for i, layer in enumerate(self.net.layers.values()):
            if layer.random_state() is not None:
                rng = np.random.default_rng([self.seed, epoch, self.comm.rank, i])
                layer.set_random_state(rng.bit_generator.state)

    def _parallel_step(self, x, y, epoch):
        """One data-parallel SGD step on the global batch (x, y): forward and backward on this
        rank's rows, then one all-reduce of [gradients, loss, accuracy], each scaled by the
        shard's share N*m/B so that the mean over ranks is the whole batch's mean gradient, loss
        and accuracy; every rank then holds the same numbers and makes the same update. Returns
        (loss, correct) of the whole batch."""
        net, comm, n = self.net, self.comm, len(y)
        part = distributed.shard_slice(n, comm.rank, comm.size)
        m = part.stop - part.start
        if m == 0:                   # fewer images than ranks: a zero share of one image
            part = slice(0, 1)
        xs, ys = to_device(x[part], self.device), to_device(y[part], self.device)
        logits = net.forward(xs, train=True)
        loss = net.loss(logits, ys)
        net.backward(input_grad=False, until=self.lowest)
        grads = net.grads()
        keys = [k for k in net.params() if k in grads]
        if self._flat is None:
            self._flat = distributed.FlatBuffer([grads[k] for k in keys], extra=2)
        buf = self._flat
        buf.pack([grads[k] for k in keys])
        buf.extra[0] = loss
        buf.extra[1] = (logits.argmax(axis=1) == ys).sum() / len(ys)
        share = m * comm.size / n
        if share != 1:
            buf.flat *= buf.flat.dtype.type(share)
        comm.allreduce_mean(buf.flat)
        buf.unpack([grads[k] for k in keys])
        loss, acc = (float(v) for v in to_numpy(buf.extra))
        if not math.isfinite(loss):  # the whole batch's loss: every rank stops here together
            self._diverged(loss, epoch, self.state["step"] + 1)
        self.opt.step()
        return loss, int(round(acc * n))

    def _read(self, tally, epoch):
        """The losses and counts of the steps since the last read (one copy from the GPU); a
        non-finite loss raises TrainingError naming its step (the update it fed may already be
        done: the check follows the update, so the step does not wait for a transfer)."""
        bad = tally.read()
        if bad is not None:
            self._diverged(bad[0], epoch, bad[1])

    def _diverged(self, loss, epoch, step):
        last = self.checkpoint_path
        raise TrainingError(
            "loss became %s at epoch %d, step %d (try a smaller --lr); the last good "
            "checkpoint is %s" % (loss, epoch + 1, step,
                                  last if last and os.path.exists(last) else "none"))

    def _schedule(self, val_err):
        """Count the epoch done and apply the plateau rule before anything is saved, so that a
        checkpoint holds the lr its next epoch trains with."""
        st = self.state
        st["epoch"] += 1
        self.improved = st["best_val_err"] is None or val_err < st["best_val_err"]
        if self.improved:
            st["best_val_err"], st["since_best"] = val_err, 0
        else:
            st["since_best"] += 1
        if st["since_best"] >= self.patience and st.get("lr_drops", 0) < self.max_lr_drops:
            self._divide_lr()
        self._anneal()

    def _divide_lr(self):
        st = self.state
        st["lr"], st["since_best"] = st["lr"] * 0.1, 0
        st["lr_drops"] = st.get("lr_drops", 0) + 1

    def _anneal(self):
        """``anneal_by``: lr / 10 once the run is past ``recipes.anneal_epoch`` with no drop yet."""
        at = recipes.anneal_epoch(self.state["settings"])
        if at is not None and self.state["epoch"] >= at and not self.state.get("lr_drops", 0) \
                and self.max_lr_drops > 0:
            self._divide_lr()

    def save(self, path):
        """A checkpoint of the run as it stands (atomic: see ``zfcore.checkpoint``)."""
        save_checkpoint(path, self.net, self.opt.velocity, self.train_ds.mean,
                        self.train_ds.class_names, self.state)

    def _call(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)


class _Tally:
    """An epoch's running loss and correct count, kept as the steps' own (device) arrays until
    ``read``: on the GPU every ``every`` steps and at the epoch's end, so that a training step
    never waits for a copy to the host; on NumPy (``every=1``) after every step, the sums the
    same float64 ones, step by step, as ever."""

    def __init__(self, every):
        self.every, self.pending = every, []
        self.seen, self.loss_sum, self.correct, self.loss = 0, 0.0, 0, float("nan")

    def add(self, loss, correct, n, step):
        self.pending.append((loss, correct, n, step))

    def due(self):
        return len(self.pending) >= self.every

    def read(self):
        """Fold the pending steps in; (loss, step) of the first non-finite loss, else None."""
        if not self.pending:
            return None
        losses, counts, sizes, steps = zip(*self.pending)
        self.pending = []
        if is_gpu(losses[0]):  # one copy and one wait for all of them
            xp = xp_of(losses[0])
            losses, counts = to_numpy(xp.stack(losses)), to_numpy(xp.stack(counts))
        for loss, right, n, step in zip(losses, counts, sizes, steps):
            loss = float(loss)
            if not math.isfinite(loss):
                return loss, step
            self.seen += n
            self.loss_sum += loss * n
            self.correct += int(right)
            self.loss = loss
        return None

    def stats(self, step, t0):
        """The ``on_step_end`` stats as of the last read (NaN before the first)."""
        seen = self.seen or float("nan")
        return dict(step=step, loss=self.loss, train_loss=self.loss_sum / seen,
                    train_acc=self.correct / seen, seen=self.seen,
                    images_per_s=self.seen / max(time.time() - t0, 1e-9))


def fit(net, train_ds, val_ds, out_dir=None, epochs=None, batch_size=None, lr=None,
        momentum=None, weight_decay=None, max_filter_rms=None, patience=None, seed=None,
        callbacks=(), device="numpy", verbose=0, resume=None, state=None, max_lr_drops=None,
        frozen=None, comm=None, anneal_by=None):
    """Train ``net`` with the recipe of Z&F Sec. 3; returns [metrics row per epoch run]. The
    arguments are ``Trainer``'s; left as None they come from the checkpoint resumed, else from
    ``zfcore.recipe.training``: batch 128, lr 1e-2, momentum 0.9, weight decay 5e-4, filter RMS
    0.1, patience 2, 8 epochs, at most 3 lr drops; on fewer than ~1,200 training images a smaller
    batch (10 steps an epoch), at least 300 steps and a patience of at least 100 steps."""
    return Trainer(net, train_ds, val_ds, out_dir=out_dir, epochs=epochs, batch_size=batch_size,
                   lr=lr, momentum=momentum, weight_decay=weight_decay,
                   max_filter_rms=max_filter_rms, patience=patience, seed=seed,
                   callbacks=callbacks, device=device, verbose=verbose, resume=resume,
                   state=state, max_lr_drops=max_lr_drops, frozen=frozen, comm=comm,
                   anneal_by=anneal_by).fit()


def _checkpoint(resume):
    if resume is None or isinstance(resume, Checkpoint):
        return resume
    path = os.fspath(resume)
    return load_checkpoint(os.path.join(path, "checkpoint.h5") if os.path.isdir(path) else path)


def _load_weights(net, ck):
    """Give ``net`` the checkpoint's weights, layer buffers and random streams (nothing to do
    when it is the checkpoint's own net)."""
    if net is ck.net:
        return
    ours, theirs = net.params(), ck.net.params()
    if (net.spec or {}).get("arch") != ck.spec.get("arch") or set(ours) != set(theirs) or \
            any(ours[k].shape != theirs[k].shape for k in ours):
        raise ValueError("checkpoint %s holds a %s net, not this %s net"
                         % (ck.path, ck.spec.get("arch"), (net.spec or {}).get("arch")))
    for key, a in theirs.items():
        net.set_param(key, a.copy())
    for name, layer in ck.net.layers.items():
        mine = net.layers[name]
        for key, a in layer.state.items():
            mine.state[key] = a.copy()
        rng = layer.random_state()
        if rng is not None:
            mine.set_random_state(rng)
