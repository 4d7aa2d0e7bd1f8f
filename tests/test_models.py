"""What the models need from a quantizer, on vqlib's layer and on vector-quantize-pytorch's."""

import pytest
import torch

from vqlib.generate import tokenize
from vqlib.models import ConvVQVAE, MLPAutoencoder
from vqlib.peer import PeerQuantizer
from vqlib.quantize import QuantizerLike, VectorQuantizer


def _quantizers():
    return {"vqlib": VectorQuantizer(8, 4, ema=True), "vector-quantize-pytorch": PeerQuantizer(8, 4)}


@pytest.mark.parametrize("name", ["vqlib", "vector-quantize-pytorch"])
def test_both_layers_satisfy_the_protocol_and_serve_tokenize_and_decode_indices(name):
    torch.manual_seed(0)
    quantizer = _quantizers()[name]
    assert isinstance(quantizer, QuantizerLike)
    model = ConvVQVAE(8, channels=8, latent_dim=4, quantizer=quantizer)
    codebook = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    model.quantizer.initialize(codebook)
    model.eval()
    x = torch.rand(5, 3, 16, 16) * 2 - 1
    maps = tokenize(model, x, batch_size=2)
    with torch.no_grad():
        out = model(x)
    assert maps.shape == (5, 4, 4)
    assert torch.equal(maps.flatten(), out.indices.flatten().long())  # tokenize sees what forward sees
    assert torch.allclose(model.quantizer.codes(), codebook)
    # decoding the token maps gives the model's own reconstruction of the quantized input
    assert torch.allclose(model.decode_indices(maps), out.reconstruction, atol=1e-5)


def test_the_mlp_decodes_indices_through_the_low_dimensional_projection():
    torch.manual_seed(0)
    model = MLPAutoencoder(3, 6, 5, code_dim=2).eval()
    x = torch.randn(7, 3)
    with torch.no_grad():
        out = model(x)
    assert torch.allclose(model.decode_indices(out.indices), out.reconstruction, atol=1e-6)


def test_a_layer_without_the_interface_is_not_a_quantizer():
    assert not isinstance(torch.nn.Linear(2, 2), QuantizerLike)
