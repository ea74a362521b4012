import numpy as np
import pytest

from minilinpath.params import Layout, LayoutMismatchError, load_checkpoint, point_on_line, save_checkpoint


def make_layout():
    return Layout([("h0.W", (3, 4)), ("h0.b", (4,)), ("y.W", (4, 2)), ("y.b", (2,))])


def test_offsets_and_size():
    layout = make_layout()
    assert layout.size == 12 + 4 + 8 + 2
    assert [e.offset for e in layout.entries] == [0, 12, 16, 24]


def test_views_write_through_to_theta():
    layout = make_layout()
    theta = np.zeros(layout.size)
    views = layout.unflatten(theta)
    views["y.W"][1, 0] = 5.0
    assert theta[16 + 2] == 5.0  # row 1, column 0 of a (4, 2) block
    assert np.shares_memory(views["h0.W"], theta)


def test_flatten_round_trip(rng):
    layout = make_layout()
    theta = rng.standard_normal(layout.size)
    again = layout.flatten(layout.unflatten(theta), dtype=np.float64)
    np.testing.assert_array_equal(theta, again)


def test_wrong_theta_is_a_clear_error():
    layout = make_layout()
    with pytest.raises(LayoutMismatchError, match="needs 26"):
        layout.unflatten(np.zeros(25))
    with pytest.raises(LayoutMismatchError, match="1-D"):
        layout.unflatten(np.zeros((2, 13)))
    with pytest.raises(LayoutMismatchError, match="floating"):
        layout.unflatten(np.zeros(26, dtype=np.int32))


def test_duplicate_names_rejected():
    with pytest.raises(ValueError, match="twice"):
        Layout([("a", (2,)), ("a", (3,))])


def test_checkpoint_round_trip_without_pickle(tmp_path, rng):
    layout = make_layout()
    theta = rng.standard_normal(layout.size).astype(np.float32)
    path = save_checkpoint(tmp_path / "c.npz", theta, layout, {"epoch": 3})
    loaded, saved_layout, meta = load_checkpoint(path, layout)
    np.testing.assert_array_equal(loaded, theta)
    assert saved_layout == layout and meta == {"epoch": 3}
    with np.load(path, allow_pickle=False) as f:  # readable with pickle disabled
        assert set(f.files) == {"theta", "layout", "meta"}


def test_checkpoint_is_never_silently_overwritten(tmp_path):
    layout = make_layout()
    path = save_checkpoint(tmp_path / "c.npz", np.zeros(layout.size), layout)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_checkpoint(path, np.ones(layout.size), layout)
    np.testing.assert_array_equal(load_checkpoint(path)[0], 0.0)


def test_checkpoint_of_another_model_is_refused(tmp_path):
    layout = make_layout()
    other = Layout([("h0.W", (3, 5)), ("h0.b", (5,)), ("y.W", (5, 2)), ("y.b", (2,)), ("extra", (1,))])
    path = save_checkpoint(tmp_path / "other.npz", np.zeros(other.size), other)
    with pytest.raises(LayoutMismatchError) as info:
        load_checkpoint(path, layout)
    message = str(info.value)
    assert "h0.W: model shape (3, 4), checkpoint shape (3, 5)" in message
    assert "extra: in the checkpoint, not in the model" in message


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, something=np.zeros(3))
    with pytest.raises(LayoutMismatchError, match="not a minilinpath checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_point_on_line_is_the_expression_bit_for_bit(rng, dtype):
    """(1 - a) end0 + a end1 in place: the expression's roundings, the arrays' dtype, exact ends at a = 0 and 1."""
    end0, end1 = (rng.standard_normal((4, 6)).astype(dtype) for _ in range(2))
    out, scratch = np.empty_like(end0), np.empty_like(end0)
    for a in (-0.7, 0.0, 0.3, 1.0, 2.5):
        got = point_on_line(end0, end1, a, out, scratch)
        assert got is out and got.dtype == dtype
        np.testing.assert_array_equal(got, (1 - a) * end0 + a * end1)
    np.testing.assert_array_equal(point_on_line(end0, end1, 0.0, out, scratch), end0)
    np.testing.assert_array_equal(point_on_line(end0, end1, 1.0, out, scratch), end1)
