import math

import pytest
import torch

from vqlib.generate import PriorSpec, TokenPrior, cached_prior, prior_loss, sample, tokenize, train_prior
from vqlib.models import ConvVQVAE

TINY = dict(dim=16, depth=1, heads=2)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_tokenize_matches_the_models_forward_indices():
    torch.manual_seed(0)
    model = ConvVQVAE(8, channels=8, latent_dim=4).eval()
    x = torch.rand(8, 3, 16, 16) * 2 - 1
    maps = tokenize(model, x, batch_size=3)
    assert maps.shape == (8, 4, 4) and maps.dtype == torch.long
    with torch.no_grad():
        assert torch.equal(maps, model(x).indices.reshape(8, 4, 4))
    model.train()
    tokenize(model, x)
    assert model.training  # mode restored


def test_prior_is_causal():
    torch.manual_seed(0)
    prior = TokenPrior(7, 6, dim=16, depth=2, heads=2).eval()
    tokens = torch.randint(0, 7, (2, 6))
    t = 3
    changed = tokens.clone()
    changed[:, t] = (changed[:, t] + 1) % 7
    with torch.no_grad():
        a, b = prior(tokens), prior(changed)
    assert a.shape == (2, 6, 7)
    assert torch.allclose(a[:, :t + 1], b[:, :t + 1])  # position t predicts token t from tokens < t
    assert not torch.allclose(a[:, t + 1], b[:, t + 1])


def test_cached_decoding_matches_the_full_forward_pass():
    torch.manual_seed(0)
    prior = TokenPrior(7, 6, dim=16, depth=2, heads=2).eval()
    tokens = torch.randint(0, 7, (3, 6))
    with torch.no_grad():
        full = prior(tokens)
        caches = [{} for _ in prior.blocks]
        inputs = torch.full((3,), prior.start_token)
        for t in range(6):
            assert torch.allclose(prior.decode_step(inputs, t, caches), full[:, t], atol=1e-5)
            inputs = tokens[:, t]


def test_train_prior_learns_a_fixed_map_and_low_temperature_sampling_reproduces_it():
    fixed = torch.tensor([[3, 1], [4, 0]])
    tokens = fixed.expand(32, 2, 2).clone()
    spec = PriorSpec(steps=150, batch_size=16, lr=3e-3, eval_every=50, **TINY)
    prior, history = train_prior(tokens, 5, spec, seed=0)
    assert list(history["step"]) == [50, 100, 150]
    assert history["train_loss"].iloc[0] < math.log(5)
    assert history["train_loss"].iloc[-1] < 0.1 * math.log(5)
    assert prior_loss(prior, tokens) < 0.1 * math.log(5)
    maps = sample(prior, 6, grid=(2, 2), temperature=0.1, seed=1)
    assert maps.shape == (6, 2, 2)
    assert torch.equal(maps, fixed.expand(6, 2, 2))


def test_train_prior_is_deterministic_for_a_seed():
    tokens = torch.randint(0, 5, (16, 2, 2), generator=torch.Generator().manual_seed(0))
    spec = PriorSpec(steps=5, batch_size=4, eval_every=5, **TINY)
    p1, h1 = train_prior(tokens, 5, spec, seed=3, val_tokens=tokens[:4])
    p2, h2 = train_prior(tokens, 5, spec, seed=3)
    assert "val_loss" in h1.columns
    assert h1["train_loss"].tolist() == h2["train_loss"].tolist()
    assert all(torch.equal(a, b) for a, b in zip(p1.state_dict().values(), p2.state_dict().values(), strict=True))


def test_sample_is_deterministic_and_top_k_one_is_greedy():
    torch.manual_seed(0)
    prior = TokenPrior(6, 4, **TINY).eval()
    a = sample(prior, 5, grid=(2, 2), seed=7)
    assert torch.equal(a, sample(prior, 5, grid=(2, 2), seed=7))
    assert a.min() >= 0 and a.max() < 6
    greedy = sample(prior, 3, seed=0, top_k=1)  # square grid inferred
    assert greedy.shape == (3, 2, 2)
    # greedy: every token is the arg-max given the prefix, so all samples agree and match the logits
    assert torch.equal(greedy, greedy[:1].expand(3, 2, 2))
    with torch.no_grad():
        logits = prior(greedy[:1].flatten(1))
    assert torch.equal(logits.argmax(-1), greedy[:1].flatten(1))
    # top_k=2: every drawn token is among the two largest logits given its prefix
    top2 = sample(prior, 20, grid=(2, 2), top_k=2, temperature=5.0, seed=1, batch_size=7)
    assert top2.shape == (20, 2, 2)
    with torch.no_grad():
        logits = prior(top2.flatten(1))
    second = logits.topk(2, dim=-1).values[..., 1]
    assert (logits.gather(-1, top2.flatten(1).unsqueeze(-1)).squeeze(-1) >= second).all()
    assert torch.unique(top2.flatten(1), dim=0).shape[0] > 1  # not greedy


def test_tokenize_rejects_a_tokenizer_without_tokens():
    model = ConvVQVAE(8, channels=8, latent_dim=4)
    model.quantizer.active = False
    with pytest.raises(ValueError, match="inactive"):
        tokenize(model, torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        tokenize(ConvVQVAE(8, channels=8, latent_dim=4), torch.zeros(3, 16, 16))


def test_bad_arguments_raise_errors_naming_them():
    prior = TokenPrior(5, 4, **TINY)
    with pytest.raises(ValueError, match="temperature"):
        sample(prior, 2, temperature=0.0)
    with pytest.raises(ValueError, match="top_k"):
        sample(prior, 2, top_k=6)
    with pytest.raises(ValueError, match="top_k"):
        sample(prior, 2, top_k=0)
    with pytest.raises(ValueError, match="grid"):
        sample(prior, 2, grid=(3, 3))
    with pytest.raises(ValueError, match="steps"):
        PriorSpec(steps=0)
    with pytest.raises(ValueError, match="lr"):
        PriorSpec(lr=0.0)
    with pytest.raises(ValueError, match="heads"):
        PriorSpec(dim=10, heads=4)
    with pytest.raises(ValueError, match="num_codes"):
        train_prior(torch.full((2, 2, 2), 5), 5, PriorSpec(steps=1, **TINY))


def test_cached_prior_hits_the_cache_with_identical_weights(isolated_dirs):
    tokens = torch.randint(0, 5, (8, 2, 2), generator=torch.Generator().manual_seed(0))
    spec = PriorSpec(steps=3, batch_size=4, eval_every=3, **TINY)
    p1, h1, cached1 = cached_prior("tokenizer-abc", tokens, 5, spec, seed=0)
    p2, h2, cached2 = cached_prior("tokenizer-abc", tokens, 5, spec, seed=0)
    assert (cached1, cached2) == (False, True)
    assert list((isolated_dirs / "cache").glob("prior-*.pt"))
    assert all(torch.equal(a, b) for a, b in zip(p1.state_dict().values(), p2.state_dict().values(), strict=True))
    assert h1.equals(h2)
    _, _, cached3 = cached_prior("tokenizer-other", tokens, 5, spec, seed=0)
    assert not cached3
    other_tokens = tokens.clone()
    other_tokens[0, 0, 0] = (other_tokens[0, 0, 0] + 1) % 5
    assert not cached_prior("tokenizer-abc", other_tokens, 5, spec, seed=0)[2]  # tokens are named by content
    assert not cached_prior("tokenizer-abc", tokens, 5, spec, seed=0, cache=False)[2]
