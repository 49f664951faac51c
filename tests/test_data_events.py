import numpy as np
import pytest
import torch

from snn_tha.repro.data import DataError
from snn_tha.repro.data.events import Binning, SparseFrames, bin_events, load_events
from snn_tha.repro.data.fixtures import write_dvs_gesture, write_shd
from snn_tha.repro.schema import DataConfig


def test_bin_events_hand_computed():
    b = Binning("shd", "corrected", bin_us=3000, num_bins=3, channels=4)
    # t = 0, 2999 -> bin 0; 3000 -> bin 1; 8999 -> bin 2 (the last, partial, bin is kept)
    idx, cnt, length, dropped = bin_events([0, 2999, 3000, 8999], [1, 1, 3, 0], b)
    assert length == 3 and dropped == 0
    dense = torch.zeros(3 * 4)
    dense[idx] = cnt.float()
    assert dense.view(3, 4).tolist() == [[0, 2, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]]
    _, _, _, dropped = bin_events([9000, -1], [0, 0], b)   # outside the window: counted
    assert dropped == 2


def test_sparse_frames_dense_binary_counts_and_int8_wrap():
    idx = torch.tensor([0, 5])
    frames = SparseFrames([idx], [torch.tensor([130, 2])], [2], 4, (4,), int8_wrap=False)
    assert frames.dense(binary=False)[:, 0].tolist() == [[130, 0, 0, 0], [0, 2, 0, 0]]
    assert frames.dense(binary=True)[:, 0].tolist() == [[1, 0, 0, 0], [0, 1, 0, 0]]
    wrapped = SparseFrames([idx], [torch.tensor([130, 2])], [2], 4, (4,), int8_wrap=True)
    assert wrapped.dense(binary=False)[0, 0, 0] == 130 - 256   # the release's int8 overflow
    assert wrapped.dense(binary=True)[0, 0, 0] == 0


def shd_cfg(**kw):
    return DataConfig(name="shd", bin_ms=3.0, train_bins=333, **kw)


def test_shd_corrected_keeps_every_event_in_the_second(tmp_path):
    times = np.array([0.0, 0.0025, 0.5, 0.9985])    # 0.9985 s falls in the last (partial) bin
    write_shd(tmp_path, events={("train", 0): (times, [0, 5, 699, 3])})
    train, _ = load_events(shd_cfg(), tmp_path)
    x = train.inputs[[0]].dense(binary=False)          # [T, 1, 700]
    assert x.shape == (334, 1, 700) and x.sum() == 4
    t16 = times.astype(np.float16).astype(np.float64) * 1e6  # SHD stores float16 seconds
    for t, u in zip(t16, [0, 5, 699, 3]):
        assert x[int(t) // 3000, 0, u] == 1


def test_shd_paper_loader_loses_late_events_and_reverses_channels(tmp_path):
    write_shd(tmp_path, events={("train", 0): ([0.010, 0.5], [0, 5])})
    train, _ = load_events(shd_cfg(loader="paper-loader"), tmp_path)
    x = train.inputs[[0]].dense(binary=False)
    assert x.shape == (333, 1, 700)                    # 1 ms bins over the first 333 ms
    assert x.sum() == 1 and x[10, 0, 699] == 1         # 0.5 s lost; channel 0 -> 699


def test_dvs_frames_downsampled_binned_by_polarity(tmp_path):
    sample = np.array([[0, 0, 1, 100], [3, 3, 1, 101], [127, 64, 0, 104], [40, 8, 0, 600]])
    write_dvs_gesture(tmp_path, events={("Train", 1, 0): sample})
    cfg = DataConfig(name="dvs_gesture", bin_ms=5.0, train_bins=100, test_bins=None)
    train, test = load_events(cfg, tmp_path)
    assert len(train) == 110 and len(test) == 110
    i = next(i for i in range(len(train)) if train.labels[i] == 0 and train.inputs.lengths[i] == 100
             and int(train.inputs.counts[i].sum()) == 3)
    x = train.inputs[[i]].dense(binary=False)          # [100, 1, 2, 32, 32], t0 = 100 ms
    assert x[0, 0, 1, 0, 0] == 2                       # (0,0) and (3,3) -> pixel (0,0), p=1
    assert x[0, 0, 0, 16, 31] == 1                     # (127, 64) -> (31, 16), p=0, bin 0
    assert x.sum() == 3                                # t = 600 ms is past the 500 ms window


def test_dvs_test_split_whole_sample_or_release_length(tmp_path):
    write_dvs_gesture(tmp_path)
    whole = DataConfig(name="dvs_gesture", bin_ms=5.0, train_bins=100, test_bins=None)
    _, test = load_events(whole, tmp_path)
    assert max(test.inputs.lengths) > 100              # whole samples: ~1.5 s -> ~300 bins
    paper = DataConfig(name="dvs_gesture", loader="paper-loader")
    train, test = load_events(paper, tmp_path)
    assert set(train.inputs.lengths) == {100} and set(test.inputs.lengths) == {360}


def test_cache_key_includes_binning(tmp_path):
    write_shd(tmp_path)
    load_events(shd_cfg(), tmp_path)
    load_events(DataConfig(name="shd", bin_ms=2.0), tmp_path)
    assert len(list((tmp_path / "cache").glob("shd-train-*.pt"))) == 2


def test_corrupt_hdf5_is_one_line_naming_the_file(tmp_path):
    folder = write_shd(tmp_path)
    (folder / "shd_train.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(DataError, match=r"SHD/shd_train.h5: corrupt or unreadable HDF5 file"):
        load_events(shd_cfg(), tmp_path)


def test_malformed_npy_names_the_file(tmp_path):
    base = write_dvs_gesture(tmp_path)
    bad = base / "ibmGestureTrain" / "user01_fluorescent" / "3.npy"
    np.save(bad, np.zeros((5, 3)))                     # three columns instead of four
    with pytest.raises(DataError, match=f"{bad}: unreadable DVS sample"):
        load_events(DataConfig(name="dvs_gesture", train_bins=100), tmp_path)


def test_missing_event_data(tmp_path, monkeypatch):
    import tonic
    monkeypatch.setattr(tonic.datasets.SHD, "download", lambda self: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(DataError, match="SHD not found under"):
        load_events(shd_cfg(), tmp_path)
