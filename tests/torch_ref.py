"""Helpers for the tests that compare dlcore's modules with torch's (torch installed)."""
import dlcore


def to_np(t):
    """A numpy view of a dlcore or torch tensor, detached from autograd."""
    return t.detach().numpy()


def load_torch_state(tm, dm):
    """Loads torch module tm's state into dlcore module dm; the two must have the same keys."""
    state = {k: dlcore.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()}
    result = dm.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert sorted(dm.state_dict()) == sorted(tm.state_dict())
