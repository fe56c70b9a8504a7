"""Graph introspection: the type of ``grad_fn`` objects."""
from .. import _C

__all__ = ["Node"]

Node = _C.Node
