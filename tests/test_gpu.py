"""GPU smoke test (marker `gpu`, skipped without CUDA): a bf16 training step on the GPU, and batch norm
turned into SyncBatchNorm as `trainer=ddp` does there."""

import functools

import pytest
import torch

from colorlab.models import Colorizer, Decoder, EfficientNetLite0Encoder
from colorlab.training.module import ColorizationModule

pytestmark = pytest.mark.gpu


@pytest.fixture
def cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch.device("cuda")


def test_a_bf16_step_on_the_gpu_trains_the_decoder_only(cuda):
    torch.manual_seed(0)
    decoder = functools.partial(Decoder, norm="batch")
    net = Colorizer(EfficientNetLite0Encoder(None), decoder)
    module = ColorizationModule(net, functools.partial(torch.optim.Adam, lr=1e-3))
    module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module).to(cuda)
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in module.net.decoder.modules())
    frozen = {k: v.clone() for k, v in module.net.encoder.state_dict().items()}
    optimizer = module.configure_optimizers()
    lightness, ab = torch.rand(4, 1, 64, 64, device=cuda), torch.rand(4, 2, 64, 64, device=cuda) * 0.2
    module.train()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss, _, _ = module._step((lightness, ab))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert all(torch.equal(v, module.net.encoder.state_dict()[k]) for k, v in frozen.items())
