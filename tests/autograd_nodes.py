"""The names of the autograd nodes a tensor's graph reaches: to check which kernels a derivative runs through."""

import torch


def node_names(tensor: torch.Tensor) -> set[str]:
    names, seen, stack = set(), set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        names.add(type(node).__name__)
        stack.extend(f for f, _ in node.next_functions)
    return names
