import io
import os
import pickle

import numpy as np
import pytest
import torch

from networks import PickleError, load_network_pkl, save_network_pkl, stylegan2, stylegan3

from .nvlabs_fake import dump_nvlabs_pickle


def _nets():
    torch.manual_seed(0)
    G = stylegan3.Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, channel_base=256,
                            channel_max=16)
    D = stylegan2.Discriminator(c_dim=0, img_resolution=16, img_channels=3, channel_base=256, channel_max=16)
    G2 = stylegan2.Generator(z_dim=16, c_dim=2, w_dim=16, img_resolution=16, img_channels=3, channel_base=256,
                             channel_max=16, mapping_kwargs={"num_layers": 3})
    with torch.no_grad():
        G.synthesis.L3_36_16.magnitude_ema.fill_(0.7)  # buffers must travel too
        G.mapping.w_avg.normal_()
    return G, D, G2


def _assert_same(a: torch.nn.Module, b: torch.nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k


def test_round_trip_of_our_format_is_exact(tmp_path):
    G, D, G2 = _nets()
    path = tmp_path / "snap.pkl"
    save_network_pkl(path, {"G": G, "D": D, "G_ema": G2, "augment_pipe": None, "progress": {"cur_nimg": 1234},
                            "training_set_kwargs": {"path": "data.zip", "resolution": 16}})
    data = load_network_pkl(path)
    assert isinstance(data["G"], stylegan3.Generator) and isinstance(data["G_ema"], stylegan2.Generator)
    _assert_same(G, data["G"])
    _assert_same(D, data["D"])
    _assert_same(G2, data["G_ema"])
    assert data["progress"] == {"cur_nimg": 1234} and data["augment_pipe"] is None
    assert not data["G"].training and not any(p.requires_grad for p in data["G"].parameters())
    z = torch.randn(2, 16)
    c = torch.eye(2)
    torch.testing.assert_close(G2.eval()(z, c, noise_mode="const"), data["G_ema"](z, c, noise_mode="const"),
                               rtol=0, atol=0)
    # Readable by plain PyTorch with no project code involved in the unpickling.
    raw = torch.load(path, weights_only=True)
    assert raw["data"]["G"]["__network__"]["class_name"] == "networks.stylegan3.Generator"


def test_half_storage_restores_float32(tmp_path):
    G, _, _ = _nets()
    save_network_pkl(tmp_path / "full.pkl", {"G_ema": G})
    save_network_pkl(tmp_path / "half.pkl", {"G_ema": G}, half=True)
    assert os.path.getsize(tmp_path / "half.pkl") < 0.7 * os.path.getsize(tmp_path / "full.pkl")
    loaded = load_network_pkl(tmp_path / "half.pkl")["G_ema"]
    for k, v in loaded.state_dict().items():
        assert v.dtype == G.state_dict()[k].dtype
        torch.testing.assert_close(v, G.state_dict()[k], rtol=1e-3, atol=1e-3)


def test_nvlabs_format_loads_identical_tensors_without_running_its_code(tmp_path):
    G, D, G2 = _nets()
    path = tmp_path / "network-snapshot-000100.pkl"
    dump_nvlabs_pickle(path, G, D, G_ema=G)
    blob = path.read_bytes()
    for name in (b"torch_utils.persistence", b"_reconstruct_persistent_obj", b"dnnlib.util", b"EasyDict",
                 b"_load_from_bytes", b"_rebuild_tensor_v2", b"module_src"):
        assert name in blob  # the file really uses NVlabs' globals and embeds module source
    data = load_network_pkl(path)  # the fake modules are gone: importing them would fail; source would raise
    assert isinstance(data["G_ema"], stylegan3.Generator) and isinstance(data["D"], stylegan2.Discriminator)
    _assert_same(G, data["G_ema"])
    _assert_same(D, data["D"])
    assert data["training_set_kwargs"]["resolution"] == 16 and type(data["training_set_kwargs"]) is dict
    z = torch.randn(2, 16)
    torch.testing.assert_close(G.eval()(z, None), data["G_ema"](z, None), rtol=0, atol=0)

    dump_nvlabs_pickle(path, G2)  # StyleGAN2 with conditioning and a non-default mapping depth
    _assert_same(G2, load_network_pkl(io.BytesIO(path.read_bytes()))["G_ema"])


def test_empty_and_many_dimensional_tensors_round_trip(tmp_path):
    G, _, _ = _nets()
    base = torch.arange(6.0)
    empties = {"zeros": torch.zeros(0), "wide": torch.zeros(3, 0, dtype=torch.int64), "tail": base[6:],
               "half": torch.zeros(0, 5, dtype=torch.float16), "flags": torch.zeros(0, dtype=torch.bool)}
    arrays = {"array": np.zeros((0, 4), dtype=np.float32)}
    # Seven dimensions: the strides multiply to 2**63, the sizes to 2**21 (only sizes count elements).
    cube = torch.arange(8**7, dtype=torch.int32).to(torch.uint8).reshape((8,) * 7)
    save_network_pkl(tmp_path / "ours.pkl", {"G_ema": G, "cube": cube, **empties, **arrays})
    dump_nvlabs_pickle(tmp_path / "nvlabs.pkl", G, extra={"cube": cube, **empties, **arrays})
    for name in ("ours.pkl", "nvlabs.pkl"):
        data = load_network_pkl(tmp_path / name)
        for key, tensor in empties.items():
            assert data[key].dtype == tensor.dtype and data[key].shape == tensor.shape, (name, key)
        assert data["array"].dtype == np.float32 and data["array"].shape == (0, 4), name
        assert torch.equal(data["cube"], cube), name


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


@pytest.mark.parametrize("func,arg,name", [
    (os.system, "touch {marker}", "system"),
    (eval, "open({marker!r}, 'w').write('x')", "builtins.eval"),
])
def test_malicious_payload_is_refused_and_never_runs(tmp_path, func, arg, name):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _Evil(func, arg.format(marker=str(marker)))}, protocol=4))
    with pytest.raises(PickleError, match=rf"refused global .*{name}"):
        load_network_pkl(path)
    assert not marker.exists()


def test_malicious_payload_inside_our_zip_format_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    torch.save({"format": "aliasfree-workbench/1", "data": {"G_ema": _Evil(os.system, f"touch {marker}")}}, path)
    with pytest.raises(PickleError, match="refused"):
        load_network_pkl(path)
    assert not marker.exists()


def test_truncated_missing_and_foreign_files_give_clear_errors(tmp_path):
    G, _, _ = _nets()
    good = tmp_path / "good.pkl"
    save_network_pkl(good, {"G_ema": G})
    (tmp_path / "cut.pkl").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(PickleError, match="truncated or corrupt"):
        load_network_pkl(tmp_path / "cut.pkl")
    dump_nvlabs_pickle(tmp_path / "nv.pkl", G)
    (tmp_path / "nvcut.pkl").write_bytes((tmp_path / "nv.pkl").read_bytes()[:5000])
    with pytest.raises(PickleError, match="truncated or corrupt"):
        load_network_pkl(tmp_path / "nvcut.pkl")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(PickleError, match="not a network pickle"):
        load_network_pkl(tmp_path / "image.png")
    with pytest.raises(PickleError, match="no such file"):
        load_network_pkl(tmp_path / "missing.pkl")
    (tmp_path / "empty.pkl").write_bytes(b"")
    with pytest.raises(PickleError, match="empty"):
        load_network_pkl(tmp_path / "empty.pkl")
    (tmp_path / "tf.pkl").write_bytes(pickle.dumps((1, 2, 3), protocol=2))
    with pytest.raises(PickleError, match="TensorFlow-era"):
        load_network_pkl(tmp_path / "tf.pkl")


def test_save_is_atomic_and_keeps_the_old_file_on_failure(tmp_path):
    G, _, _ = _nets()
    path = tmp_path / "snap.pkl"
    save_network_pkl(path, {"G_ema": G})
    before = path.read_bytes()
    with pytest.raises(TypeError, match="cannot be saved"):
        save_network_pkl(path, {"G_ema": G, "bad": object()})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap.pkl"]  # no temporary left behind
    with pytest.raises(TypeError, match="not a @persistent_class"):
        save_network_pkl(path, {"G_ema": torch.nn.Linear(2, 2)})
