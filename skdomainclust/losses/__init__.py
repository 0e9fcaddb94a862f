"""Pure loss functions on tensors, one module per method family.

Each function takes tensors and returns a scalar tensor (or a tensor of per-sample terms);
none holds state. They are unit-tested against slow, obviously-correct references.
"""

__all__ = []
