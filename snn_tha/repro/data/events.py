"""DVS128 Gesture and SHD through tonic, binned into spike frames.

Two loaders (`data.loader`):
- `corrected` (default): DVS downsampled 4x to 2x32x32, `bin_ms` bins from the sample's first
  event (training: the first `train_bins`; testing: `test_bins`, or the whole sample when unset);
  SHD `bin_ms` bins over `window_ms` (default the full 1 s). No event inside a window is lost.
- `paper-loader`: the release's loader quirks, read in its code: DVS per-bin counts stored as int8
  (wrapping above 127) over fixed 500 ms (train) / 1800 ms (test) windows; SHD counts in 1 ms bins
  over only the first `train_bins` ms, channels reversed.
Frames are kept sparse per sample (flat indices + counts) and made dense per batch; the binned
data are cached on disk under a key made of every parameter that shapes them.
"""
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from snn_tha.repro import files
from snn_tha.repro.data.common import DataError, Split

DVS_SHAPE, SHD_CHANNELS = (2, 32, 32), 700


@dataclass(frozen=True)
class Binning:
    """Everything that decides the frames of one split (and so the cache key)."""
    dataset: str
    loader: str
    bin_us: int
    num_bins: int | None        # None: as many as the sample needs (DVS whole sample)
    channels: int
    int8_wrap: bool = False
    reverse_channels: bool = False


class SparseFrames:
    """Per-sample sparse frames: flat indices into [T, channels] and their counts."""

    def __init__(self, indices, counts, lengths, channels, frame_shape, int8_wrap=False):
        self.indices, self.counts, self.lengths = indices, counts, lengths
        self.channels, self.frame_shape, self.int8_wrap = channels, frame_shape, int8_wrap

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, idx):
        idx = range(len(self))[idx] if isinstance(idx, slice) else [int(i) for i in idx]
        return SparseFrames([self.indices[i] for i in idx], [self.counts[i] for i in idx],
                            [self.lengths[i] for i in idx], self.channels, self.frame_shape,
                            self.int8_wrap)

    def dense(self, binary):
        """Time-first float frames [T, B, *frame_shape] (zero-padded to the longest sample)."""
        steps = max(self.lengths)
        out = torch.zeros(len(self), steps * self.channels)
        for b, (idx, cnt) in enumerate(zip(self.indices, self.counts)):
            out[b].index_put_((idx,), cnt.float(), accumulate=True)
        if self.int8_wrap:  # the release stored counts as int8: 128 -> -128, ...
            out = out.to(torch.int64).to(torch.int8).float()
        if binary:
            out = (out > 0).float()
        return out.view(len(self), steps, *self.frame_shape).transpose(0, 1).contiguous()


def bin_events(t_us, channel, binning, t0_us=0):
    """Flat frame indices (bin * channels + channel) and counts of one sample's events; events
    outside [t0, t0 + num_bins * bin) are dropped (and counted)."""
    bins = (np.asarray(t_us, dtype=np.int64) - t0_us) // binning.bin_us
    length = binning.num_bins if binning.num_bins is not None else int(bins.max()) + 1
    inside = (bins >= 0) & (bins < length)
    flat = bins[inside] * binning.channels + np.asarray(channel, dtype=np.int64)[inside]
    uniq, counts = np.unique(flat, return_counts=True)
    return (torch.from_numpy(uniq), torch.from_numpy(counts.astype(np.int32)), length,
            int((~inside).sum()))


def _dvs_channel(events):
    """4x spatial downsampling to 2x32x32 (tonic's Downsample), flattened to p*1024 + y*32 + x."""
    import tonic
    events = tonic.transforms.Downsample(spatial_factor=0.25)(events)
    return (events["p"].astype(np.int64) * 1024 + events["y"].astype(np.int64) * 32
            + events["x"].astype(np.int64)), events["t"]


def _tonic_dataset(root, dataset, train):
    """tonic's dataset object for one split (extracting archives on first use), or a DataError."""
    import tonic
    if dataset == "dvs_gesture":
        try:
            return tonic.datasets.DVSGesture(str(root), train=train)
        except Exception as err:  # tonic tries a download when files are missing
            raise DataError(f"DVS128 Gesture not found under {root}/DVSGesture/: put "
                            f"ibmGesture{'Train' if train else 'Test'}.tar.gz and its extracted folder "
                            f"there (tonic's layout), or run once online to download ({type(err).__name__})") from None
    h5 = Path(root) / "SHD" / f"shd_{'train' if train else 'test'}.h5"
    try:
        return tonic.datasets.SHD(str(root), train=train)
    except OSError as err:
        if h5.is_file():
            raise DataError(f"{h5}: corrupt or unreadable HDF5 file ({err})") from None
    except Exception:
        pass
    raise DataError(f"SHD not found under {root}/SHD/: put shd_train.h5(.zip) and "
                    f"shd_test.h5(.zip) there (tonic's layout), or run once online to download")


def _read_dvs(ds):
    for i in range(len(ds)):
        name = str(ds.data[i])
        try:
            events, label = ds[i]
        except Exception as err:
            raise DataError(f"{name}: unreadable DVS sample ({err}); expected an (N, 4) "
                            f"array of x, y, p, t[ms]") from None
        if len(events) == 0:
            raise DataError(f"{name}: a DVS sample with no events (truncated or empty file); "
                            f"replace it with the original or delete it")
        channel, t = _dvs_channel(events)
        yield channel, t, int(t.min()), label


def _read_shd(ds, reverse, h5):
    for i in range(len(ds)):
        try:
            events, label = ds[i]
        except (KeyError, ValueError, OSError) as err:
            raise DataError(f"{h5}: sample {i} unreadable ({type(err).__name__}: {err}); expected "
                            f"the groups spikes/times, spikes/units and labels") from None
        if len(events) == 0:
            raise DataError(f"{h5}: sample {i} has no spikes (a truncated file?); replace the file")
        channel = events["x"].astype(np.int64)
        yield (SHD_CHANNELS - 1 - channel) if reverse else channel, events["t"], 0, label


def binning_for(cfg, train):
    """The Binning of one split from a DataConfig (loader quirks included)."""
    paper = cfg.loader == "paper-loader"
    if cfg.name == "dvs_gesture":
        bins = (100 if train else 360) if paper else (cfg.train_bins if train else cfg.test_bins)
        return Binning("dvs_gesture", cfg.loader, 5000 if paper else round(cfg.bin_ms * 1000),
                       bins, 2 * 32 * 32, int8_wrap=paper)
    if cfg.name == "shd":
        if paper:  # the window was num_steps ms, not num_steps * dt
            return Binning("shd", cfg.loader, 1000, cfg.train_bins, SHD_CHANNELS,
                           reverse_channels=True)
        bins = -(-round(cfg.window_ms * 1000) // round(cfg.bin_ms * 1000))
        return Binning("shd", cfg.loader, round(cfg.bin_ms * 1000), bins, SHD_CHANNELS)
    raise DataError(f"unknown event data set {cfg.name!r}; valid: dvs_gesture, shd")


def source_files(root, dataset, train):
    """The files the frames of one split are read from (tonic's on-disk layout)."""
    split = "Train" if train else "Test"
    if dataset == "dvs_gesture":
        folder = Path(root) / "DVSGesture" / f"ibmGesture{split}"
        return sorted(p for p in folder.rglob("*.npy")) if folder.is_dir() else []
    h5 = Path(root) / "SHD" / f"shd_{split.lower()}.h5"
    return [h5] if h5.is_file() else []


def file_fingerprint(path):
    """Size, mtime and a SHA-1 of the content: a replaced file (a partial download swapped for
    the full one, even with the same size) gives another fingerprint."""
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns, digest.hexdigest()]


def _cache_path(root, binning, train, sources):
    key = json.dumps({**vars(binning), "train": train, "version": 2,
                      "sources": [file_fingerprint(p) for p in sources]}, sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return root / "cache" / f"{binning.dataset}-{'train' if train else 'test'}-{digest}.pt"


def load_split(cfg, root, train):
    binning = binning_for(cfg, train)
    # tonic extracts archives on first use: open it first, then key the cache on what it reads
    ds = _tonic_dataset(root, binning.dataset, train)
    cache = _cache_path(root, binning, train, source_files(root, binning.dataset, train))
    if cache.is_file():
        saved = torch.load(cache, weights_only=False)
    else:
        reader = (_read_dvs(ds) if binning.dataset == "dvs_gesture" else _read_shd(
            ds, binning.reverse_channels, source_files(root, "shd", train)[0]))
        saved = {"indices": [], "counts": [], "lengths": [], "labels": [], "dropped": 0}
        for channel, t, t0, label in reader:
            idx, cnt, length, dropped = bin_events(t, channel, binning, t0)
            for key, value in (("indices", idx), ("counts", cnt), ("lengths", length),
                               ("labels", label)):
                saved[key].append(value)
            saved["dropped"] += dropped
        files.atomic_torch_save(cache, saved)
    shape = DVS_SHAPE if binning.dataset == "dvs_gesture" else (SHD_CHANNELS,)
    frames = SparseFrames(saved["indices"], saved["counts"], saved["lengths"],
                          binning.channels, shape, binning.int8_wrap)
    return Split(frames, torch.tensor(saved["labels"], dtype=torch.long))


def load_events(cfg, data_dir=None):
    """(train, test) splits of SparseFrames for a DataConfig naming dvs_gesture or shd."""
    from snn_tha.repro.paths import data_root
    root = data_root(data_dir)
    return load_split(cfg, root, True), load_split(cfg, root, False)
