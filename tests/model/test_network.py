import pytest
import torch

from model import BiLSTMClassifier, ModelConfig
from model.network import reverse_within_length


def test_padded_bilstm_equals_packed_bilstm() -> None:
    """Our padded two-LSTM form must compute exactly what PyTorch's packed BiLSTM computes."""
    torch.manual_seed(0)
    net = BiLSTMClassifier(ModelConfig(vocab_size=50, embedding_dim=12, hidden_size=10)).eval()
    packed = torch.nn.LSTM(12, 10, batch_first=True, bidirectional=True)
    fwd, bwd = net.forward_lstms[0], net.backward_lstms[0]
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(packed, name).copy_(getattr(fwd, name))
            getattr(packed, name + "_reverse").copy_(getattr(bwd, name))
    lengths = torch.tensor([9, 6, 2, 1])
    ids = torch.randint(2, 50, (4, 9))
    ids[torch.arange(9)[None] >= lengths[:, None]] = 0
    x = net.embedding(ids)
    out, _ = packed(torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    expected, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
    f, _ = fwd(x)
    b, _ = bwd(reverse_within_length(x, lengths))
    ours = torch.cat([f, reverse_within_length(b, lengths)], -1)
    valid = (torch.arange(9)[None] < lengths[:, None]).unsqueeze(-1)
    assert torch.allclose(ours * valid, expected * valid, atol=1e-6)


def test_padding_does_not_change_logits() -> None:
    torch.manual_seed(1)
    net = BiLSTMClassifier(
        ModelConfig(vocab_size=30, labels=["a", "b", "c"], num_layers=2, embedding_dim=8, hidden_size=8)
    ).eval()
    ids = torch.randint(2, 30, (1, 5))
    alone = net(ids, torch.tensor([5]))
    padded = torch.cat([ids, torch.zeros(1, 20, dtype=torch.long)], 1)
    assert torch.allclose(alone, net(padded, torch.tensor([5])), atol=1e-6)
    assert alone.shape == (1, 3)


@pytest.mark.parametrize(
    "bad", [{"labels": ["only"]}, {"labels": ["a", "a"]}, {"hidden_size": 0}, {"dropout": 1.0}, {"head_tokens": 700}]
)
def test_config_refuses_bad_values(bad: dict) -> None:
    with pytest.raises(ValueError):
        ModelConfig(vocab_size=10, **bad)
