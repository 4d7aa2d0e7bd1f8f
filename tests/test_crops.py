import pytest
import torch

from vqlib.crops import center_crop, random_crop


def test_random_crop_gives_each_image_its_own_window_deterministically():
    x = torch.arange(8 * 3 * 10 * 12, dtype=torch.float32).reshape(8, 3, 10, 12)
    a = random_crop(x, 4, torch.Generator().manual_seed(0))
    b = random_crop(x, 4, torch.Generator().manual_seed(0))
    c = random_crop(x, (4, 5), torch.Generator().manual_seed(1))
    assert a.shape == (8, 3, 4, 4) and c.shape == (8, 3, 4, 5)
    assert torch.equal(a, b)
    offsets = set()
    for n in range(8):  # each crop is a contiguous window of its own image, same window for all channels
        flat = int(a[n, 0, 0, 0]) - n * 3 * 120
        top, left = divmod(flat, 12)
        offsets.add((top, left))
        assert torch.equal(a[n], x[n, :, top : top + 4, left : left + 4])
    assert len(offsets) > 1  # offsets are drawn per image
    # images already of the crop size come back unchanged and draw no random numbers
    gen = torch.Generator().manual_seed(0)
    assert random_crop(x, (10, 12), gen) is x
    assert torch.equal(gen.get_state(), torch.Generator().manual_seed(0).get_state())


def test_center_crop_takes_the_middle_window():
    x = torch.arange(2 * 1 * 6 * 7, dtype=torch.float32).reshape(2, 1, 6, 7)
    assert torch.equal(center_crop(x, 4), x[..., 1:5, 1:5])
    assert torch.equal(center_crop(x, (2, 3)), x[..., 2:4, 2:5])
    assert torch.equal(center_crop(x, (6, 7)), x)


def test_bad_crops_name_the_problem():
    x = torch.zeros(2, 3, 10, 10)
    with pytest.raises(ValueError, match="larger"):
        random_crop(x, 11, torch.Generator())
    with pytest.raises(ValueError, match="larger"):
        center_crop(x, (4, 12))
    with pytest.raises(ValueError, match="NCHW"):
        center_crop(torch.zeros(3, 10, 10), 4)
    with pytest.raises(ValueError, match="positive"):
        random_crop(x, 0)
