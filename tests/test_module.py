import functools

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from colorlab.core.color import rgb_to_lab
from colorlab.core.metrics import ab_accuracy, ab_error
from colorlab.models import Colorizer, Decoder, VGG16Encoder
from colorlab.training.module import ColorizationModule
from tests.conftest import smooth_image


def make_module(lr: float = 1e-3, **decoder_args) -> ColorizationModule:
    torch.manual_seed(0)
    return ColorizationModule(
        net=Colorizer(VGG16Encoder(weights=None), functools.partial(Decoder, **decoder_args)),
        optimizer=functools.partial(torch.optim.Adam, lr=lr),
        variant="test",
    )


def smooth_batch(n: int = 8, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    rgb = torch.stack([torch.from_numpy(smooth_image(size, seed=i)).permute(2, 0, 1) for i in range(n)])
    return rgb_to_lab(rgb)


class Repeat(torch.utils.data.Dataset):
    def __init__(self, batch, times):
        self.batch, self.times = batch, times

    def __len__(self):
        return self.times

    def __getitem__(self, i):
        return self.batch


def fit_one_batch(module, batch, steps):
    loader = DataLoader(Repeat(batch, steps), batch_size=None)
    trainer = pl.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, train_dataloaders=loader)


@pytest.mark.parametrize("decoder_args", [{}, {"norm": "batch"}])
def test_overfits_a_smooth_batch_and_leaves_the_encoder_untouched(decoder_args):
    module = make_module(**decoder_args)
    batch = smooth_batch(6)
    encoder_before = {k: v.clone() for k, v in module.net.encoder.state_dict().items()}
    module.train()  # measured as trained: batch norm uses the batch's statistics
    with torch.no_grad():
        before = module._step(batch)[0].item()
    fit_one_batch(module, batch, steps=40)
    with torch.no_grad():
        after = module._step(batch)[0].item()
    assert after < 0.5 * before, (before, after)
    assert all(torch.equal(v, encoder_before[k]) for k, v in module.net.encoder.state_dict().items())
    module.train()
    assert module.net.decoder.training and not module.net.encoder.training


def test_only_the_decoder_is_optimised():
    module = make_module()
    optimizer = module.configure_optimizers()
    params = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert params == {id(p) for p in module.net.decoder.parameters()}
    assert optimizer.param_groups[0]["lr"] == 1e-3


def test_hparams_record_variant_and_parameter_counts():
    module = make_module(norm="batch")
    assert module.hparams["variant"] == "test"
    assert module.hparams["params/decoder"] == sum(p.numel() for p in module.net.decoder.parameters())
    assert module.hparams["params/encoder_frozen"] == 14_714_688
    assert module.hparams["decoder/norm"] == "batch" and module.hparams["optimizer/lr"] == 1e-3


def test_input_size_must_be_a_multiple_of_the_stride():
    with pytest.raises(ValueError, match=r"48x48 is not a multiple of the encoder's stride 32"):
        make_module()(torch.rand(1, 1, 48, 48))


def test_channels_last_gives_the_same_prediction():
    plain = make_module().eval()
    fast = make_module().eval()
    fast.net.channels_last = True
    fast.to(memory_format=torch.channels_last)
    lightness = torch.rand(2, 1, 64, 64)
    assert torch.allclose(plain(lightness), fast(lightness), atol=1e-5)


def test_accuracy_counts_pixels_within_the_euclidean_ab_threshold():
    true = torch.zeros(1, 2, 2, 2)
    pred = torch.zeros(1, 2, 2, 2)
    pred[0, 0, 0, 0] = 6 / 128  # a=6, b=8 -> distance exactly 10: counts
    pred[0, 1, 0, 0] = 8 / 128
    pred[0, 0, 0, 1] = 7 / 128  # a=7, b=8 -> 10.63: does not count
    pred[0, 1, 0, 1] = 8 / 128
    pred[0, 0, 1, 1] = -3 / 128  # 3: counts
    assert torch.allclose(ab_error(pred, true)[0, 0], torch.tensor([10.0, 113**0.5]))
    assert ab_accuracy(pred, true, threshold=10).item() == pytest.approx(0.75)
    assert ab_accuracy(pred, true, threshold=2).item() == pytest.approx(0.25)  # only the exact pixel


def test_a_diverging_loss_stops_with_a_clear_error():
    module = make_module()
    lightness, ab = smooth_batch(2, 32)
    module.trainer = None
    with pytest.raises(FloatingPointError, match="lower the lr"):
        module.training_step((lightness, ab * float("nan")), 0)


def test_an_encoder_top_trains_from_photos_and_the_frozen_part_stays_bit_identical():
    """train_from_stride=16 without the feature cache: gradients reach Lite0's stride-32 stages (at
    the scaled lr), never the stages before them."""
    import functools

    from colorlab.models import Colorizer, EfficientNetLite0Encoder, UNetDecoder, ab_grid
    from colorlab.models.heads import ClassificationHead

    torch.manual_seed(0)
    net = Colorizer(
        EfficientNetLite0Encoder(None, train_from_stride=16),
        functools.partial(UNetDecoder, widths=[64, 32, 32, 16, 16, 8], skip_strides=[16, 8, 4]),
        ClassificationHead(),
    )
    batch = smooth_batch(4)
    net.head.set_prior(ab_grid.histogram(batch[1]))
    module = ColorizationModule(net, functools.partial(torch.optim.Adam, lr=1e-3), encoder_lr_scale=0.5)
    before = {k: v.clone() for k, v in net.encoder.state_dict().items()}
    fit_one_batch(module, batch, 2)
    after = net.encoder.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    top = ("net.blocks.5", "net.blocks.6", "net.conv_head", "net.bn2")
    assert moved and all(k.startswith(top) for k in moved)
    assert any(k.startswith("net.conv_head") for k in moved) and not any("running" in k for k in moved)
    (decoder, encoder_top) = module.optimizers().optimizer.param_groups
    assert encoder_top["lr"] == pytest.approx(0.5 * decoder["lr"])
