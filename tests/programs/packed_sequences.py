"""Variable-length sequences: pad_sequence, pack_padded_sequence through an LSTM,
pad_packed_sequence, masking, and a GRU classifier trained with Adam and gradient clipping."""
import json
import sys

import dlcore as torch
import dlcore.nn as nn
from dlcore.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 8, padding_idx=0)
        self.rnn = nn.LSTM(8, 16, batch_first=True)
        self.head = nn.Linear(16, 2)

    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(self.emb(tokens), lengths, batch_first=True, enforce_sorted=False)
        out, (h, c) = self.rnn(packed)
        padded, out_lengths = pad_packed_sequence(out, batch_first=True)
        assert out_lengths.tolist() == lengths.tolist()
        return self.head(h[-1])


def main():
    torch.manual_seed(0)
    seqs, labels = [], []
    for i in range(200):
        n = int(torch.randint(3, 12, ()).item())
        s = torch.randint(1, 5, (n,))
        seqs.append(s)
        labels.append(int((s == 4).sum().item() > (s == 3).sum().item()))
    lengths = torch.tensor([len(s) for s in seqs])
    tokens = pad_sequence(seqs, batch_first=True)
    assert tokens.shape == (200, int(lengths.max()))
    y = torch.tensor(labels)

    # The packed LSTM's last state equals running each sequence alone.
    model = Classifier()
    with torch.no_grad():
        one = model.rnn(model.emb(seqs[0][None]))[1][0][-1]
        packed_h = model.rnn(pack_padded_sequence(model.emb(tokens[:3]), lengths[:3], batch_first=True,
                                                  enforce_sorted=False))[1][0][-1]
    assert torch.allclose(one[0], packed_h[0], atol=1e-5)

    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for epoch in range(60):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(tokens, lengths), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    acc = (model(tokens, lengths).argmax(1) == y).float().mean().item()
    assert acc > 0.85, acc
    print("RESULT " + json.dumps({"train_accuracy_above_0.85": acc > 0.85}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
